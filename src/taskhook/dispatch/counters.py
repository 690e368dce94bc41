"""Each team's task counts by status and its usage per UTC day, kept from the Tasks table's stream
(the TeamStats table, adapters/dynamo/team_stats.py): what `pagination.total`, GET /v1/usage and
GET /v1/stats read instead of the tasks themselves.

Which record counts how (`tally`), with notify/rules.py's `status_changed` telling a status change
from a repeated or bookkeeping record:
- an insert: +1 in its status; the day's `tasksCreated` +1 and its request's bytes;
- a status change: -1 in the old status, +1 in the new one; on a terminal status, the outcome's bytes,
  and +1 `completed` or `failed` (failed, timeout) in the team's minute of its completedAt;
- a claim (a new `claimedAt` on a `processing` row, written with a version bump): `attempts` +1;
- a poll recorded (`poll.polls` grew): `polls` + the growth;
- a removal (TTL's delete, or the local stack's expiry): -1 in the removed row's status;
- anything else (the delivery log, a dispatch mark, a progress write) counts nothing.
model/usage.py says exactly what each usage figure counts.

Exactly once under the stream's retries. The feed (dispatch/stream.py) runs this consumer last and
hands it only the changes before the earliest one another consumer failed: those after it come
again in the retried batch and are counted then. The whole batch is one `TransactWriteItems` (ADD
on each item) whose ClientRequestToken is a digest of the counted records' sequence numbers, so a
repeat of the same write within DynamoDB's 10 minutes (a retry after a lost answer, a runner that
crashed after the write and reads the same records again) writes nothing more; if it fails,
nothing is written and every counted change is reported failed (the batch is retried from its start).

What remains inexact (`bin/taskhook stats recount --team T` rebuilds a team's counts from the table):
- a crash or timeout of the stream function after its write: Lambda bisects the batch
  (BisectBatchOnFunctionError), so the halves' tokens differ from the whole's and their records
  are counted again; so is a repeat more than 10 minutes later (the token has expired);
- a team whose tasks are removed other than by TTL or the local expiry without a stream (a table
  restore, a stream disabled for a while): its counts drift until recounted;
- usage days are the row's own times (`createdAt` for a creation, `updatedAt` for a change), not
  the stream's.

Cost per (team, batch), on demand: the counts item and each day's usage item the batch touches
(usually one day), each under 1 KB, written in a transaction: 2 WCU each, so 4 WCU per team and
batch (a batch with only status changes and no usage, e.g. only removals: 2 WCU). A batch that
finishes tasks adds each minute item it touches (usually one, under 100 bytes, expiring after
MINUTE_KEEP_HOURS): 2 WCU more per team and batch, so at most 2 WCU per finished task (a batch
with one finish) and 2 / n for n finishes of a team in one batch and minute. A batch holds up
to 100 records (template.yaml's BatchSize); one transaction takes at most 100 items, so a batch of
more than 50 teams is written in several transactions (each its own token).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date

from taskhook.model.change import Change
from taskhook.model.clock import parse_iso
from taskhook.model.errors import TaskhookError
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.usage import Tally, outcome_bytes, request_bytes
from taskhook.notify.rules import status_changed
from taskhook.ports import TeamStatsStore

log = logging.getLogger(__name__)
TOKEN_LENGTH = 36  # DynamoDB's longest ClientRequestToken


# How a finish counts in the per-minute chart (GET /v1/stats); a cancel is not a finish of the run.
FINISHED_AS = {TaskStatus.COMPLETED: "completed", TaskStatus.FAILED: "failed", TaskStatus.TIMEOUT: "failed"}


def minute_of(stamp: str) -> str:
    """The UTC minute of a timestamp, `YYYY-MM-DDTHH:MM` (the per-minute counters' key)."""
    return parse_iso(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _day(stamp: str) -> date:
    return parse_iso(stamp).date()


def _written(change: Change) -> bool:
    """Whether the record shows a write of the task (a version bump), not bookkeeping or a repeat."""
    return change.old is None or change.old.version != change.new.version


def _polls(change: Change) -> int:
    old = (change.old.poll or {}).get("polls", 0) if change.old else 0
    new = (change.new.poll or {}).get("polls", 0)
    return max(0, int(new) - int(old)) if change.old and change.old.poll else 0


def tally(changes: list[Change]) -> Tally:
    out = Tally()
    for change in changes:
        new, team = change.new, change.new.teamId
        if change.removed:
            out.count(team, new.status, -1)
            continue
        if change.inserted:
            out.count(team, new.status, +1)
            day = out.day(team, _day(new.createdAt))
            day.tasksCreated += 1
            day.bytesStored += request_bytes(new)
            continue
        if change.old is None or not _written(change):
            continue  # a MODIFY without its old image (LocalStack streams some) tells no move to count
        day = out.day(team, _day(new.updatedAt or new.createdAt))
        if status_changed(change.old, new) and change.old.status != new.status:
            out.count(team, change.old.status, -1)
            out.count(team, new.status, +1)
            if new.status in TERMINAL:
                day.bytesStored += outcome_bytes(new)
                outcome = FINISHED_AS.get(new.status)
                if outcome is not None and new.completedAt:
                    out.finish(team, minute_of(new.completedAt), outcome)
        if new.status is TaskStatus.PROCESSING and new.claimedAt and new.claimedAt != change.old.claimedAt:
            day.attempts += 1
        day.polls += _polls(change)
    return out.nonzero()


def batch_token(changes: list[Change]) -> str:
    """The same counted records give the same token (DynamoDB's ClientRequestToken)."""
    digest = hashlib.sha256("\n".join(c.sequence for c in changes).encode()).hexdigest()
    return digest[:TOKEN_LENGTH]


@dataclass
class TeamCounters:
    """The stream consumer that keeps TeamStats: last in the feed, counting up to `before`."""

    store: TeamStatsStore

    def count(self, changes: list[Change], before: int) -> list[int]:
        counted = changes[:before]
        totals = tally(counted)
        if not totals.counts and not totals.usage:
            return []
        try:
            self.store.add(totals, batch_token(counted))
        except TaskhookError as exc:  # nothing was written (one transaction): the batch is retried
            log.warning("team counters not written (%s); the batch is retried", exc.message)
            return list(range(len(counted)))
        return []
