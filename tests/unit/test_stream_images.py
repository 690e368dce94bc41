"""The local event source's repair of stream images (infra/stream_images.py): each record of an
item leaves as AWS sends it, its old image the item as the item's previous record left it, whatever
the emulator read (LocalStack's UpdateItem reads the item before and after the write, apart from
it: docs/localstack/README.md (c))."""

from __future__ import annotations

import json
from typing import Any

from infra.stream_images import ImageChain
from taskhook.dispatch.counters import tally
from taskhook.model.change import Change


def image(task_id: str, status: str, version: int) -> dict[str, Any]:
    return {"id": {"S": task_id}, "teamId": {"S": "acme"}, "status": {"S": status},
            "createdAt": {"S": "2026-12-03T08:00:00.000Z"}, "updatedAt": {"S": "2026-12-03T08:00:00.000Z"},
            "version": {"N": str(version)}, "statusVersion": {"N": str(version)}}


def record(sequence: int, name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None,
           task_id: str = "t1") -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"Keys": {"id": {"S": task_id}}, "SequenceNumber": str(sequence),
                                "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {"eventName": name, "dynamodb": dynamodb}


def counted(records: list[dict[str, Any]]) -> dict[str, int]:
    """What the team counters make of the records, as the stream handler reads them."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from functions.dispatcher import change_of

    changes = [change_of(DynamoDBRecord({**r, "eventSource": "aws:dynamodb"})) for r in records]
    totals = tally([c for c in changes if isinstance(c, Change)])
    return {status: n for status, n in totals.counts.get("acme", {}).items() if n}


# What LocalStack streamed for a task whose claim (a conditional UpdateItem) came while the create's
# PutItem was in flight: the update's "before" read found no item, so its record is an INSERT.
RACED = [
    record(100, "INSERT", image("t1", "pending", 1)),
    record(200, "INSERT", image("t1", "processing", 2)),
    record(300, "MODIFY", image("t1", "completed", 3), old=image("t1", "processing", 2)),
]


def test_an_update_streamed_as_an_insert_becomes_the_modify_aws_sends() -> None:
    assert counted(RACED) == {"pending": 1, "completed": 1}  # as LocalStack streams it: a task too many

    chain = ImageChain()
    repaired = [chain.repair(r) for r in RACED]

    assert [r["eventName"] for r in repaired] == ["INSERT", "MODIFY", "MODIFY"]
    assert repaired[1]["dynamodb"]["OldImage"] == image("t1", "pending", 1)
    assert counted(repaired) == {"completed": 1}
    assert chain.repaired == 1


def test_a_stale_old_image_is_replaced_by_the_previous_record_s_new_image() -> None:
    stale = [
        record(100, "INSERT", image("t1", "pending", 1)),
        record(200, "MODIFY", image("t1", "processing", 2), old=image("t1", "pending", 1)),
        record(300, "MODIFY", image("t1", "completed", 3), old=image("t1", "pending", 1)),  # read before 200's write
    ]
    assert counted(stale) == {"pending": -1, "processing": 1, "completed": 1}

    chain = ImageChain()
    repaired = [chain.repair(r) for r in stale]

    assert repaired[2]["dynamodb"]["OldImage"] == image("t1", "processing", 2)
    assert counted(repaired) == {"completed": 1}


def test_records_already_as_aws_sends_them_pass_unchanged() -> None:
    chain = ImageChain()
    good = [
        record(1, "INSERT", image("t1", "pending", 1)),
        record(2, "INSERT", image("t2", "delayed", 1), task_id="t2"),
        record(3, "MODIFY", image("t1", "processing", 2), old=image("t1", "pending", 1)),
        record(4, "MODIFY", image("t1", "processing", 2), old=image("t1", "processing", 2)),  # bookkeeping
        record(5, "REMOVE", None, old=image("t2", "delayed", 1), task_id="t2"),
        record(6, "INSERT", image("t2", "pending", 1), task_id="t2"),  # the same id again, after its removal
    ]
    assert [chain.repair(r) for r in good] == good
    assert chain.repaired == 0


def test_a_record_delivered_again_is_repaired_from_the_images_before_it_not_after() -> None:
    """A failed batch is read again from its failed record (Lambda's ReportBatchItemFailures): its
    records are repaired the same way the second time."""
    chain = ImageChain()
    first = [chain.repair(r) for r in RACED]
    again = [chain.repair(r) for r in RACED[1:]]
    assert again == first[1:]


def test_a_batch_read_again_with_many_later_records_of_the_item_is_repaired_as_the_first_time() -> None:
    """The failed record is the raced claim, and the batch holds six more records of the task
    (progress writes bump the version): all of them stay until the runner checkpoints past them."""
    batch = RACED[:2] + [record(300 + n, "MODIFY", image("t1", "processing", 3 + n),
                                old=image("t1", "processing", 2 + n)) for n in range(6)]
    chain = ImageChain()
    first = [chain.repair(r, "shard-1") for r in batch]
    chain.settle("shard-1", "100")  # the runner saved the records before the failed one
    again = [chain.repair(r, "shard-1") for r in batch[1:]]
    assert again == first[1:] and again[0]["eventName"] == "MODIFY"


def test_what_the_runner_checkpointed_is_forgotten_but_the_last_image() -> None:
    chain = ImageChain()
    for r in RACED:
        chain.repair(r, "shard-1")
    chain.settle("shard-1", "300")
    late = record(400, "MODIFY", image("t1", "completed", 4), old=image("t1", "pending", 1))  # stale
    assert chain.repair(late, "shard-1")["dynamodb"]["OldImage"] == image("t1", "completed", 3)
    assert [q for _, q, _ in chain._seen[next(iter(chain._seen))]] == [300, 400]


def test_an_old_image_newer_than_the_record_before_it_is_kept() -> None:
    """A record the chain did not see (another shard's, read later) left the emulator's old image
    newer than what the chain holds: the emulator's is the better one."""
    chain = ImageChain()
    chain.repair(record(100, "INSERT", image("t1", "pending", 1)))
    skipped = record(300, "MODIFY", image("t1", "completed", 3), old=image("t1", "processing", 2))
    assert chain.repair(skipped) == skipped


def test_an_image_older_than_the_one_before_it_is_left_as_the_emulator_sent_it() -> None:
    """Records of one item out of order (versions going down) are not the emulator's to repair
    from the order: the record is passed on as it came."""
    chain = ImageChain()
    chain.repair(record(100, "MODIFY", image("t1", "processing", 2), old=image("t1", "pending", 1)))
    late = record(200, "INSERT", image("t1", "pending", 1))
    assert chain.repair(late) == late


def test_the_items_remembered_are_bounded() -> None:
    chain = ImageChain(items=2)
    for n in range(5):
        chain.repair(record(n + 1, "INSERT", image(f"t{n}", "pending", 1), task_id=f"t{n}"))
    assert chain.remembered == 2
    # The forgotten item's next record is passed on as the emulator sent it.
    raced = record(10, "INSERT", image("t0", "processing", 2), task_id="t0")
    assert chain.repair(raced) == raced


class FakeStreams:
    """A stream of one shard whose GetRecords answers are `pages`, then nothing."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        from types import SimpleNamespace

        self.meta = SimpleNamespace(events=SimpleNamespace(register=lambda *args, **kwargs: None))
        self.pages = pages

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "iterator"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        return {"Records": self.pages.pop(0) if self.pages else [], "NextShardIterator": "iterator"}


def test_the_local_stream_source_hands_the_handler_the_repaired_records(monkeypatch: Any, tmp_path: Any) -> None:
    import infra.runner as runner
    from infra.wiring import EventSource

    monkeypatch.setenv("TASKHOOK_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(runner.EMULATOR_CONTROL, raising=False)  # an external emulator's stack
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(runner, "invoke", lambda source, event: events.append(event) or {})
    source = runner.StreamSource(EventSource("DynamoDB", "app.dispatch", "Tasks", 100, 60), "arn:stream",
                                 FakeStreams([RACED[:1], RACED[1:]]))

    assert source.poll_once() == 1 and source.poll_once() == 2

    handed = [r for event in events for r in event["Records"]]
    assert [r["eventName"] for r in handed] == ["INSERT", "MODIFY", "MODIFY"]
    assert counted(handed) == {"completed": 1}


def test_on_the_embedded_emulator_records_pass_as_it_streams_them(monkeypatch: Any, tmp_path: Any) -> None:
    """moto makes a record's images in the same step as the write: nothing to repair, nothing kept."""
    import infra.runner as runner
    from infra.wiring import EventSource

    monkeypatch.setenv("TASKHOOK_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(runner.EMULATOR_CONTROL, "http://127.0.0.1:1/_taskhook/")
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(runner, "invoke", lambda source, event: events.append(event) or {})
    source = runner.StreamSource(EventSource("DynamoDB", "app.dispatch", "Tasks", 100, 60), "arn:stream",
                                 FakeStreams([RACED]))

    assert source.poll_once() == 3
    assert [r["dynamodb"] for r in events[0]["Records"]] == [r["dynamodb"] for r in RACED]


def test_a_record_the_chain_cannot_read_is_handed_on_as_it_came(monkeypatch: Any, tmp_path: Any) -> None:
    import infra.runner as runner
    from infra.wiring import EventSource

    monkeypatch.setenv("TASKHOOK_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(runner.EMULATOR_CONTROL, raising=False)
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(runner, "invoke", lambda source, event: events.append(event) or {})
    odd = [{"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "not-a-number", "NewImage": {}}},
           {"eventName": "MODIFY", "dynamodb": {"Keys": {"id": {"S": "t1"}}, "SequenceNumber": "7",
                                                "NewImage": {"version": {"N": "1e999"}}}}]
    source = runner.StreamSource(EventSource("DynamoDB", "app.dispatch", "Tasks", 100, 60), "arn:stream",
                                 FakeStreams([RACED[:1], odd]))

    assert source.poll_once() == 1 and source.poll_once() == 2
    assert [r["dynamodb"] for r in events[1]["Records"]] == [r["dynamodb"] for r in odd]
    assert json.loads((tmp_path / "stream-checkpoint.json").read_text()) == {"arn:stream": {"shard-1": "7"}}
