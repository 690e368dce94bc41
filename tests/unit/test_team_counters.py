"""The team counters kept from the stream (dispatch/counters.py): which record counts how, and that
no change is counted twice when the feed's batch is retried."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any

from functions.dispatcher import change_of
from taskhook.dispatch.counters import TeamCounters, batch_token, tally
from taskhook.dispatch.expired_objects import ExpiredObjects
from taskhook.dispatch.outbox import TaskOutbox
from taskhook.dispatch.stream import ChangeFeed
from taskhook.model.change import Change
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.model.usage import DayUsage
from taskhook.notify.changes import NotificationFanout
from tests.support.fakes import (
    InMemoryNotificationQueue,
    InMemoryObjectStore,
    InMemoryTaskQueue,
    InMemoryTeamStats,
)

S = TaskStatus
DAY = date(2026, 1, 1)


def task(task_id: str = "t1", status: TaskStatus = S.PENDING, version: int = 1, team: str = "acme",
         **fields: Any) -> Task:
    data: dict[str, Any] = {"id": task_id, "teamId": team, "status": status, "createdAt": "2026-01-01T12:00:00.000Z",
                            "updatedAt": "2026-01-01T12:00:00.000Z", "targetUrl": "https://x.test/hook",
                            "callbackUrl": "https://x.test/cb", "version": version,
                            "statusVersion": fields.pop("statusVersion", version)}
    return Task(**{**data, **fields})


def nonzero(counts: dict[TaskStatus, int]) -> dict[TaskStatus, int]:
    return {s: n for s, n in counts.items() if n}


def insert(seq: str, t: Task) -> Change:
    return Change(seq, None, t, inserted=True)


def claim(seq: str, t: Task, at: str = "2026-01-01T12:00:01.000Z") -> Change:
    new = t.model_copy(update={"status": S.PROCESSING, "version": t.version + 1, "statusVersion": t.version + 1,
                               "claimedAt": at, "claimToken": "c" + at, "updatedAt": at})
    return Change(seq, t, new)


def finish(seq: str, t: Task, status: TaskStatus = S.COMPLETED, **fields: Any) -> Change:
    new = t.model_copy(update={"status": status, "version": t.version + 1, "statusVersion": t.version + 1,
                               "completedAt": "2026-01-01T12:00:02.000Z", "updatedAt": "2026-01-01T12:00:02.000Z",
                               "claimToken": None, **fields})
    return Change(seq, t, new)


def lifetime(n: int, team: str = "acme") -> list[Change]:
    """Insert, claim, finish of `n` tasks, interleaved as a busy stream would have them."""
    out: list[Change] = []
    for i in range(n):
        created = task(f"t{i}", team=team, body="x" * 10)
        claimed = claim(f"{i}b", created)
        out += [insert(f"{i}a", created), claimed, finish(f"{i}c", claimed.new, result={"statusCode": 200})]
    return out


def test_an_insert_counts_one_in_its_status_and_a_creation_with_its_bytes() -> None:
    totals = tally([insert("1", task(body="héllo"))])
    assert totals.counts == {"acme": Counter({S.PENDING: 1})}
    assert totals.usage == {("acme", DAY): DayUsage(tasksCreated=1, bytesStored=6)}


def test_a_status_change_moves_one_from_the_old_status_to_the_new_and_a_claim_is_an_attempt() -> None:
    created = task()
    claimed = claim("2", created)
    totals = tally([claimed])
    assert totals.counts == {"acme": Counter({S.PENDING: -1, S.PROCESSING: 1})}
    assert totals.usage == {("acme", DAY): DayUsage(attempts=1)}


def test_the_finish_counts_the_result_and_outputs_it_stores() -> None:
    running = claim("2", task()).new
    result = {"statusCode": 200, "bodyKey": "results/acme/t1/body", "bodySize": 70_000}
    done = finish("3", running, result=result, outputs=[{"key": "outputs/acme/t1/0-a.png", "size": 5}])
    totals = tally([done])
    assert totals.counts == {"acme": Counter({S.PROCESSING: -1, S.COMPLETED: 1})}
    encoded = len('{"statusCode":200,"bodyKey":"results/acme/t1/body","bodySize":70000}')
    assert totals.usage[("acme", DAY)].bytesStored == encoded + 70_000 + 5


def test_a_repeated_record_and_a_bookkeeping_write_count_nothing() -> None:
    done = finish("3", claim("2", task()).new).new
    bookkeeping = done.model_copy(update={"notifications": {"n": {"status": "delivered"}}})
    assert tally([Change("4", done, bookkeeping)]).counts == {}
    # The same version in both images: a repeat (LocalStack's no-op update) counts nothing.
    assert tally([Change("5", done, done)]).counts == {}
    assert tally([Change("5", done, done)]).usage == {}


def test_a_progress_write_and_a_stale_claim_takeover() -> None:
    running = claim("2", task()).new
    progress = running.model_copy(update={"version": running.version + 1, "progress": 50})
    assert tally([Change("3", running, progress)]).usage == {}
    # A run taking over a crashed one's claim: processing -> processing, no status change, one more attempt.
    takeover = progress.model_copy(update={"version": progress.version + 1, "claimedAt": "2026-01-01T12:05:00.000Z"})
    totals = tally([Change("4", progress, takeover)])
    assert totals.counts == {}
    assert totals.usage == {("acme", DAY): DayUsage(attempts=1)}


def test_a_poll_recorded_counts_its_growth() -> None:
    polling = task(status=S.POLLING, version=3, poll={"polls": 2})
    again = polling.model_copy(update={"version": 4, "poll": {"polls": 3}})
    assert tally([Change("1", polling, again)]).usage == {("acme", DAY): DayUsage(polls=1)}


def test_a_removal_counts_one_less_in_the_removed_rows_status() -> None:
    gone = task(status=S.COMPLETED, version=3)
    assert tally([Change("9", gone, gone, removed=True)]).counts == {"acme": Counter({S.COMPLETED: -1})}


def test_a_batch_that_counts_nothing_writes_nothing() -> None:
    stats = InMemoryTeamStats()
    done = task(status=S.COMPLETED, version=3)
    bookkeeping = done.model_copy(update={"notifications": {"n": {"status": "delivered"}}})
    assert TeamCounters(stats).count([Change("1", done, bookkeeping), Change("2", done, done)], 2) == []
    assert stats.tokens == []


def test_removals_reach_only_the_consumers_that_ask_for_them() -> None:
    queue, notifications, objects, stats = (InMemoryTaskQueue(), InMemoryNotificationQueue(), InMemoryObjectStore(),
                                            InMemoryTeamStats())
    objects.put("results/acme/t1/body", b"x", "text/plain")
    objects.put("outputs/acme/t1/0-a.png", b"y", "image/png")
    objects.put("outputs/acme/t2/0-b.png", b"z", "image/png")
    gone = task(status=S.COMPLETED, version=3, result={"bodyKey": "results/acme/t1/body"},
                outputs=[{"key": "outputs/acme/t1/0-a.png", "size": 1}, {"source": "s", "error": "e"}])
    feed = ChangeFeed([TaskOutbox(queue), NotificationFanout(notifications)],
                      removal_consumers=[ExpiredObjects(objects)], counters=TeamCounters(stats))
    fresh = task("t3")
    assert feed.handle([Change("1", gone, gone, removed=True), insert("2", fresh)]) == []
    assert [d.task_id for call in queue.calls for d in call] == ["t3"]
    assert [n.task_id for n in notifications.queued] == ["t3"]
    assert set(objects.objects) == {"outputs/acme/t2/0-b.png"}
    assert stats.counts("acme") == {S.COMPLETED: -1, S.PENDING: 1}


def test_a_failure_in_another_consumer_counts_only_the_changes_before_it_and_the_retry_the_rest() -> None:
    stats, expected = InMemoryTeamStats(), InMemoryTeamStats()
    changes = lifetime(4) + lifetime(2, team="beta")
    TeamCounters(expected).count(changes, len(changes))

    class FailsOnce:
        """A consumer whose effect of the 5th change fails the first time."""

        def __init__(self) -> None:
            self.failed = False

        def consume(self, batch: list[Change]) -> list[int]:
            at = next((i for i, c in enumerate(batch) if c.sequence == "1b"), None)
            if at is None or self.failed:
                return []
            self.failed = True
            return [at, at + 2]

    feed = ChangeFeed([FailsOnce()], counters=TeamCounters(stats))
    retry = feed.handle(changes)
    assert retry[0] == "1b"
    assert nonzero(stats.counts("acme")) == {S.PENDING: 1, S.COMPLETED: 1}  # t0 whole, t1 inserted
    start = [c.sequence for c in changes].index(retry[0])
    assert feed.handle(changes[start:]) == []  # as Lambda retries: from the earliest failure
    assert {t: nonzero(c) for t, c in stats.count_rows.items()} == {
        t: nonzero(c) for t, c in expected.count_rows.items()}
    assert stats.days == expected.days
    assert nonzero(stats.counts("acme")) == {S.COMPLETED: 4}
    assert stats.days[("beta", DAY)] == DayUsage(tasksCreated=2, attempts=2,
                                                 bytesStored=2 * (10 + len('{"statusCode":200}')))


def test_a_failed_counter_write_reports_every_counted_change_and_the_retry_counts_once() -> None:
    stats = InMemoryTeamStats(unavailable=True)
    changes = lifetime(2)
    feed = ChangeFeed([], counters=TeamCounters(stats))
    assert feed.handle(changes) == [c.sequence for c in changes]
    assert stats.count_rows == {}
    stats.unavailable = False
    assert feed.handle(changes) == []
    assert nonzero(stats.counts("acme")) == {S.COMPLETED: 2}


def test_the_same_records_again_after_a_crash_are_not_counted_twice() -> None:
    """The runner (or Lambda) read the batch, the write landed, the answer was lost: the same
    records come again and carry the same token."""
    stats = InMemoryTeamStats()
    changes = lifetime(3)
    counters = TeamCounters(stats)
    counters.count(changes, len(changes))
    counters.count(list(changes), len(changes))
    assert stats.counts("acme")[S.COMPLETED] == 3
    assert batch_token(changes) == batch_token(list(changes)) != batch_token(changes[1:])
    assert len(batch_token(changes)) <= 36


def test_the_dispatcher_reads_a_remove_record_as_a_removal() -> None:
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    image = {"id": {"S": "t1"}, "teamId": {"S": "acme"}, "status": {"S": "completed"},
             "createdAt": {"S": "2026-01-01T12:00:00.000Z"}, "version": {"N": "3"}, "expiresAt": {"N": "1769947200"}}
    event = {"Records": [{"eventName": "REMOVE", "eventSource": "aws:dynamodb",
                          "dynamodb": {"SequenceNumber": "42", "Keys": {"id": {"S": "t1"}}, "OldImage": image,
                                       "StreamViewType": "NEW_AND_OLD_IMAGES"}}]}
    change = change_of(next(iter(DynamoDBStreamEvent(event).records)))
    assert change is not None and change.removed
    assert (change.sequence, change.new.id, change.new.status, change.new.expiresAt) == ("42", "t1", S.COMPLETED,
                                                                                        1769947200)


def test_a_results_own_body_size_is_not_counted_as_stored_bytes() -> None:
    """A polling task's result is the provider's final JSON verbatim, a function task's whatever the
    function returned: a `bodySize` in it names no stored body. Counted, a huge one made the
    counters' ADD a number DynamoDB refuses (over 38 digits, or past 1E126), so the stream batch
    failed on every retry; a negative one lowered the team's bytes. Only the executor's own
    `results/<team>/<task>/body` adds its size, within what the executor reads of an answer."""
    claimed = claim("1b", task(kind="function"))
    for size, key in ((10**40 + 7, "results/acme/t1/body"), (-5_000, "results/acme/t1/body"),
                      (True, "results/acme/t1/body"), (5_000, "results/beta/t9/body"), (5_000, None)):
        result = {"bodySize": size, "bodyKey": key}
        day = tally([finish("1c", claimed.new, result=result)]).usage[("acme", DAY)]
        assert day.bytesStored == len(json.dumps(result, separators=(",", ":")).encode())
    own = {"statusCode": 200, "headers": {}, "duration": 1, "bodyKey": "results/acme/t1/body", "bodySize": 70_000}
    day = tally([finish("1c", claim("1b", task()).new, result=own)]).usage[("acme", DAY)]
    assert day.bytesStored == len(json.dumps(own, separators=(",", ":")).encode()) + 70_000
