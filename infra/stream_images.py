"""Stream records as AWS sends them, for the local event source (infra/runner.py).

DynamoDB Streams shows each write of an item once, in order, with the item as it was before the
write (OldImage) and after it (NewImage): so a record's old image is the new image of the item's
record before it. LocalStack does not keep that when writes to one item overlap: its UpdateItem
reads the item, makes the write, and reads it again, as three separate calls
(docs/localstack/README.md (c)). An update that lands while the create's PutItem is still in flight
is streamed as an INSERT with no old image, and one that overlaps another update carries an old
image from before that update (b). The task counters read the old image's status to know which
count a change leaves, so each such record left a task counted twice.

`ImageChain` puts back what AWS promises, from the records themselves: a record of an item whose
earlier record it has seen gets that record's new image as its old image, when the emulator's is
missing or older, and an INSERT of an item that exists (an earlier record, no REMOVE since) becomes
the MODIFY it was. It only ever follows the order the versions say: a record whose item's version
went down since the record before is passed on as it came, as is the first record of an item it
has not seen (the runner started after it, or the item was forgotten: it remembers the last
`items` items). A batch read again from a failed record is repaired as the first time: an item's
images are kept back to the last one the runner checkpointed (`settle`). The runner uses it on an
external emulator only: the embedded moto makes its images in the same step as the write, and every
record would pass unchanged.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

# Items remembered: each keeps its last checkpointed image and those streamed since (a task row's
# image is some 16 KB as parsed JSON, so typically 16 MB or so; rows near DynamoDB's 400 KB make it
# more). An item is forgotten when ITEMS others were streamed since its last record; the repair
# needs the record just before, a few hundred back in a burst.
ITEMS = 1_000

Entry = tuple[str, int, "dict[str, Any] | None"]  # (shard, sequence, new image; None once removed)


def _version(image: dict[str, Any] | None) -> int:
    """A task row's `version` in a wire-shape image (no version: a row from before versions, 1)."""
    value = (image or {}).get("version", {}).get("N")
    return int(float(value)) if value is not None else 1


class ImageChain:
    def __init__(self, items: int = ITEMS) -> None:
        self._items = items
        self._seen: OrderedDict[str, list[Entry]] = OrderedDict()  # item key -> its records, in stream order
        self._settled: dict[str, int] = {}  # shard -> the runner's checkpoint: nothing up to it comes again
        self.repaired = 0  # records changed so far

    @property
    def remembered(self) -> int:
        return len(self._seen)

    def settle(self, shard: str, sequence: str) -> None:
        """The runner checkpointed `shard` at `sequence`: no record up to it is read again."""
        self._settled[shard] = int(sequence)

    def _done_with(self, entry: Entry) -> bool:
        settled = self._settled.get(entry[0])
        return settled is not None and entry[1] <= settled

    def repair(self, record: dict[str, Any], shard: str = "") -> dict[str, Any]:
        """`record` (GetRecords' wire shape, from `shard`) as AWS would have sent it, and remembered
        as the next record's previous one. A record read again (a retried batch) is repaired from
        the images before it, as the first time."""
        dynamodb = record["dynamodb"]
        key = json.dumps(dynamodb["Keys"], sort_keys=True)
        sequence = int(dynamodb["SequenceNumber"])
        new = dynamodb.get("NewImage") if record["eventName"] != "REMOVE" else None
        history = self._seen.pop(key, [])
        at = next((i for i, (s, q, _) in enumerate(history) if (s, q) == (shard, sequence)), None)
        if at is None:  # first read: after every record of the item so far (a shard's parent comes first)
            before = history[-1][2] if history else None
            history.append((shard, sequence, new))
        else:  # read again: after the ones before it
            before = history[at - 1][2] if at > 0 else None
        # Keep the last record done with (the next one's "before") and every one since.
        done = [i for i, entry in enumerate(history) if self._done_with(entry)]
        self._seen[key] = history[done[-1]:] if done else history
        while len(self._seen) > self._items:
            self._seen.popitem(last=False)
        if before is None or new is None or _version(before) > _version(new):
            return record
        if record["eventName"] == "INSERT" and _version(before) == _version(new):
            return record  # a put over the same version is not a case this knows
        old = dynamodb.get("OldImage")
        if record["eventName"] == "MODIFY" and old is not None and _version(old) >= _version(before):
            return record  # as AWS sends it (the common case), or newer than what this saw
        self.repaired += 1
        return {**record, "eventName": "MODIFY", "dynamodb": {**dynamodb, "OldImage": before}}
