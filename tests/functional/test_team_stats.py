"""TeamStats on moto: the adapter, the counters kept from stream records of real rows, retention's
`expiresAt` on real rows, and the local stack's expiry (rows and their S3 objects; counts go down).

moto's in-process mock does not serve the Streams API: each stream record is built here from the
stored item before and after the write, as DynamoDB Streams would deliver it (NEW_AND_OLD_IMAGES)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions import dispatcher
from taskhook.adapters.dynamo.expiry import LocalExpiry
from taskhook.adapters.dynamo.team_stats import DynamoTeamStats
from taskhook.container import container
from taskhook.dispatch.counters import TeamCounters
from taskhook.dispatch.recount import recount, recount_all
from taskhook.model import lifecycle
from taskhook.model.change import Change
from taskhook.model.plan import TeamPlan
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.model.usage import DayUsage, Tally

from .conftest import Provisioned

S = TaskStatus
TEAM, OTHER = "team-stats-a", "team-stats-b"
NOW = datetime.now(UTC)
DAY = 86_400
_sequence = itertools.count(1000)


def item(aws: Provisioned, task_id: str) -> dict[str, Any] | None:
    ddb = aws.client("dynamodb")
    return ddb.get_item(TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task_id}}).get("Item")


def record(name: str, task_id: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"Keys": {"id": {"S": task_id}}, "SequenceNumber": str(next(_sequence)),
                            "StreamViewType": "NEW_AND_OLD_IMAGES", "SizeBytes": 1}
    if old is not None:
        body["OldImage"] = old
    if new is not None:
        body["NewImage"] = new
    return {"eventID": body["SequenceNumber"], "eventName": name, "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": body}


def streamed(aws: Provisioned, task_id: str, write: Callable[[], Any], records: list[dict[str, Any]]) -> Any:
    """Run `write` on the row and append the stream record it makes."""
    before = item(aws, task_id)
    out = write()
    after = item(aws, task_id)
    records.append(record("INSERT" if before is None else "MODIFY", task_id, before, after))
    return out


def deliver(records: list[dict[str, Any]]) -> None:
    assert dispatcher.handle({"Records": records}, None) == {"batchItemFailures": []}
    records.clear()


def a_task(n: int, team: str = TEAM) -> Task:
    stamp = NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Task(id=f"{team}-{n}", teamId=team, status=S.PENDING, createdAt=stamp, updatedAt=stamp,
                targetUrl="https://api.example.com/hook", body='{"n": 1}')


def run_to_the_end(aws: Provisioned, task: Task, records: list[dict[str, Any]], **result: Any) -> Task:
    repo = container().task_repository
    streamed(aws, task.id, lambda: repo.put_new(task), records)
    claimed = streamed(aws, task.id, lambda: repo.apply(task, lifecycle.claim(task, "tok", NOW)), records)
    changes = lifecycle.TaskChanges(result=result or {"statusCode": 200, "body": "ok"})
    ending = lifecycle.finish(claimed, S.COMPLETED, NOW, "tok", changes)
    return streamed(aws, task.id, lambda: repo.apply(claimed, ending), records)  # type: ignore[no-any-return,unused-ignore]


def test_the_adapter_adds_in_transactions_and_reads_counts_totals_and_days(aws: Provisioned) -> None:
    stats = container().team_stats
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    stats.add(Tally({TEAM: Counter({S.PENDING: 3, S.COMPLETED: 2}), OTHER: Counter({S.FAILED: -1})},
                    {(TEAM, day1): DayUsage(3, 4, 0, 100), (TEAM, day2): DayUsage(1, 0, 2, 0)}), "token-1")
    stats.add(Tally({TEAM: Counter({S.PENDING: -1, S.COMPLETED: 1})}, {(TEAM, day2): DayUsage(0, 1, 0, 7)}), "token-2")
    assert stats.counts(TEAM) == {S.PENDING: 2, S.COMPLETED: 3}
    assert (stats.total(TEAM, None), stats.total(TEAM, S.COMPLETED), stats.total(TEAM, S.TIMEOUT)) == (5, 3, 0)
    assert (stats.total(OTHER, S.FAILED), stats.total(OTHER, None), stats.total("nobody", None)) == (0, 0, 0)
    assert stats.usage(TEAM, day1, day2) == {day1: DayUsage(3, 4, 0, 100), day2: DayUsage(1, 1, 2, 7)}
    assert stats.usage(TEAM, day2, date(2026, 12, 31)) == {day2: DayUsage(1, 1, 2, 7)}
    stats.set_counts(TEAM, {S.COMPLETED: 4})
    assert stats.counts(TEAM) == {s: 4 if s is S.COMPLETED else 0 for s in S}
    # 120 teams: 240 items, more than one transaction (100 items each) takes.
    many = Tally({f"t{i}": Counter({S.PENDING: 1}) for i in range(120)},
                 {(f"t{i}", day1): DayUsage(tasksCreated=1) for i in range(120)})
    stats.add(many, "token-3")
    assert [stats.total(f"t{i}", S.PENDING) for i in (0, 59, 119)] == [1, 1, 1]
    assert stats.usage("t119", day1, day1) == {day1: DayUsage(tasksCreated=1)}


def test_the_stream_keeps_the_counts_and_the_local_expiry_removes_tasks_their_objects_and_counts(
        aws: Provisioned) -> None:
    container().plan_store.save(TEAM, TeamPlan(retention_days=2))
    s3, bucket = aws.client("s3"), aws.env["OUTPUTS_BUCKET"]
    key = f"results/{TEAM}/{TEAM}-0/body"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 70_000)
    records: list[dict[str, Any]] = []
    first = run_to_the_end(aws, a_task(0), records, statusCode=200, bodyKey=key, bodySize=70_000)
    run_to_the_end(aws, a_task(1), records)
    kept = run_to_the_end(aws, a_task(2, team=OTHER), records)  # the default retention, 30 days
    repo = container().task_repository
    waiting = a_task(3)
    streamed(aws, waiting.id, lambda: repo.put_new(waiting), records)
    deliver(records)

    counts = container().task_counts
    assert (counts.total(TEAM, S.COMPLETED), counts.total(TEAM, S.PENDING), counts.total(TEAM, None)) == (2, 1, 3)
    today = NOW.date()
    usage = container().team_stats.usage(TEAM, today, today)[today]
    assert (usage.tasksCreated, usage.attempts) == (3, 2)
    assert usage.bytesStored >= 3 * len('{"n": 1}') + 70_000

    assert int(item(aws, first.id)["expiresAt"]["N"]) == int(NOW.timestamp()) + 2 * DAY  # type: ignore[index]
    assert int(item(aws, kept.id)["expiresAt"]["N"]) == int(NOW.timestamp()) + 30 * DAY  # type: ignore[index]
    assert "expiresAt" not in item(aws, waiting.id)  # type: ignore[operator]

    expiry = LocalExpiry(aws.client("dynamodb"), aws.env["TASKS_TABLE"])
    assert expiry.expire((NOW + timedelta(days=1)).timestamp()) == 0
    images = {t: item(aws, t) for t in (first.id, f"{TEAM}-1", kept.id, waiting.id)}
    assert expiry.expire((NOW + timedelta(days=3)).timestamp()) == 2
    gone = [t for t in images if item(aws, t) is None]
    assert sorted(gone) == [first.id, f"{TEAM}-1"]
    deliver([record("REMOVE", t, images[t], None) for t in gone])

    assert (counts.total(TEAM, S.COMPLETED), counts.total(TEAM, None), counts.total(OTHER, S.COMPLETED)) == (0, 1, 1)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{TEAM}/").get("KeyCount") == 0


def test_recount_rebuilds_a_teams_counts_from_its_rows(aws: Provisioned) -> None:
    records: list[dict[str, Any]] = []
    run_to_the_end(aws, a_task(0), records)
    container().task_repository.put_new(a_task(1))
    container().task_repository.put_new(a_task(2, team=OTHER))
    stats = container().team_stats
    stats.set_counts(TEAM, {S.FAILED: 7})  # drifted
    repo = container().task_repository
    assert recount(repo.statuses_of_team(TEAM), TEAM, stats) == {S.COMPLETED: 1, S.PENDING: 1}
    assert stats.counts(TEAM) == {s: int(s in (S.COMPLETED, S.PENDING)) for s in S}


def test_recount_all_zeroes_a_team_that_has_counts_but_no_rows_left(aws: Provisioned) -> None:
    """A team whose every row is gone (expired while the stream consumer was failing, or deleted by
    hand) kept its old counts after `stats recount --all`, which only visited teams with rows."""
    repo, stats = container().task_repository, container().team_stats
    repo.put_new(a_task(0))
    stats.set_counts(TEAM, {S.PENDING: 3})  # drifted
    stats.set_counts(OTHER, {S.COMPLETED: 5})  # no row of OTHER's is left
    assert recount_all(repo.team_statuses(), stats) == {TEAM: {S.PENDING: 1}, OTHER: {}}
    assert stats.total(TEAM, None) == 1
    assert stats.counts(OTHER) == {s: 0 for s in S}
    assert sorted(stats.counted_teams()) == sorted([TEAM, OTHER])


def test_a_teams_retention_is_stored_in_its_plan(aws: Provisioned) -> None:
    store = container().plan_store
    store.save(TEAM, TeamPlan(rps=5, retention_days=90))
    assert store.load(TEAM) == TeamPlan(rps=5, retention_days=90)
    assert container().retention_days(TEAM) == 90
    assert container().retention_days(OTHER) == 30


@pytest.mark.parametrize("code", ["TransactionCanceledException", "ThrottlingException", "IdempotentParameterMismatch"])
def test_a_transaction_not_written_is_busy_and_the_consumer_reports_the_batch_failed(code: str) -> None:
    """Busy, so the counters report every counted change (the batch is retried), whatever refused it."""
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_client_error("transact_write_items", service_error_code=code, http_status_code=400)
    with stubber:
        counters = TeamCounters(DynamoTeamStats(client, "taskhook-team-stats"))
        changes = [Change("1", None, a_task(0), inserted=True), Change("2", None, a_task(1), inserted=True)]
        assert counters.count(changes, 2) == [0, 1]
    stubber.assert_no_pending_responses()


def test_a_throttled_plan_read_keeps_the_task_longest_rather_than_expire_it_early(
        aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's note: a team with a 10-year retention whose plan read is throttled when a task
    ends must not have it expire after the 30-day default."""
    from taskhook.model.errors import Busy
    from taskhook.model.retention import MAX_RETENTION_DAYS

    def throttled(team_id: str) -> None:
        raise Busy()

    monkeypatch.setattr(container().plan_book, "plan_of", throttled)
    assert container().retention_days("team-long") == MAX_RETENTION_DAYS
