"""The TaskRepository contract, run against the in-memory fake and against PynamoDB on moto.

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.client
import pytest

from taskhook.container import container
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import IllegalTransition, Transition
from taskhook.model.listing import ListQuery
from taskhook.model.status import CANCELLABLE, TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskCounts, TaskRepository
from tests.support.fakes import InMemoryTaskRepository

from .conftest import Provisioned

S = TaskStatus
TEAM, OTHER_TEAM = "team-a", "team-b"
URL = "https://api.example.com/webhook"
POLL_CONFIG = {
    "urlTemplate": "https://queue.fal.run/requests/{id}/status",
    "statusPath": "status",
    "doneValues": ["COMPLETED", "OK"],
    "failValues": ["FAILED"],
    "intervalSeconds": 5,
}


@dataclass
class Store:
    kind: str
    repository: TaskRepository
    aws: Provisioned | None = None
    counts: TaskCounts | None = None

    def list(self, team: str, query: ListQuery) -> tuple[list[Task], int]:
        """A page's rows and the total (the counts: the fake's rows, or the index fallback)."""
        assert self.counts is not None
        return self.repository.list_for_team(team, query).tasks, self.counts.total(team, query.status)

    def raw(self, task_id: str) -> dict[str, Any] | None:
        """The stored DynamoDB item, as boto3 sees it (Dynamo variant only)."""
        assert self.aws is not None
        ddb = self.aws.client("dynamodb")
        return ddb.get_item(TableName=self.aws.env["TASKS_TABLE"], Key={"id": {"S": task_id}}).get("Item")


@pytest.fixture(params=["memory", "dynamo"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        repository = InMemoryTaskRepository()
        yield Store("memory", repository, counts=repository)
    else:
        aws: Provisioned = request.getfixturevalue("aws")
        request.getfixturevalue("counted_from_rows")  # no stream runs here to keep the counters
        yield Store("dynamo", container().task_service.repository, aws, container().task_counts)


@pytest.fixture
def dynamo(aws: Provisioned, counted_from_rows: None) -> Store:
    return Store("dynamo", container().task_service.repository, aws, container().task_counts)


def created_at(n: int) -> str:
    return f"2024-01-15T10:30:{n // 1000:02d}.{n % 1000:03d}Z"


def make_task(n: int = 0, team: str = TEAM, status: TaskStatus = S.PENDING, **fields: Any) -> Task:
    data: dict[str, Any] = {
        "id": f"task-{team}-{n:04d}",
        "teamId": team,
        "status": status,
        "targetUrl": URL,
        "createdAt": created_at(n),
        "updatedAt": created_at(n),
    }
    data.update(fields)
    return Task(**data)


def full_task() -> Task:
    return make_task(
        1,
        method="PUT",
        headers={"Authorization": "Bearer service-token", "X-Trace": "abc"},
        body='{"action": "process", "data": {"id": 123}}',
        maxWaitTime=120,
        timeout=10,
        maxRetries=7,
        retryBackoff="linear",
        priority=8,
        onCompleteUrl="https://api.example.com/task-complete",
        provider="fal",
        pollConfig=POLL_CONFIG,
    )


# ---- put_new / get ----------------------------------------------------------------------------


def test_put_new_then_get_round_trips_every_field(store: Store) -> None:
    task = full_task()
    store.repository.put_new(task)

    got = store.repository.get(task.id)

    assert got is not None
    assert got == task
    assert got.public() == task.public()
    assert got.headers == {"Authorization": "Bearer service-token", "X-Trace": "abc"}
    assert got.pollConfig == POLL_CONFIG
    assert isinstance(got.pollConfig["doneValues"], list)


def test_numbers_stay_integers_after_a_round_trip(store: Store) -> None:
    task = make_task(2)
    store.repository.put_new(task)

    got = store.repository.get(task.id)

    assert got is not None
    for name in ("maxRetries", "retryCount", "priority"):
        assert type(getattr(got, name)) is int, name
    public = got.public()
    for name, value in {"maxWaitTime": 30, "timeout": 30, "maxRetries": 3, "retryCount": 0, "priority": 5}.items():
        assert public[name] == value
        assert type(public[name]) is int, f"{name} is {public[name]!r} on the wire"


def test_put_new_stores_an_empty_headers_map(store: Store) -> None:
    task = make_task(3, headers={})
    store.repository.put_new(task)
    got = store.repository.get(task.id)
    assert got is not None and got.headers == {}


def test_get_of_a_missing_task_is_none(store: Store) -> None:
    assert store.repository.get("no-such-task") is None


def test_put_new_twice_is_a_conflict_and_keeps_the_first_row(store: Store) -> None:
    first = make_task(4)
    store.repository.put_new(first)

    with pytest.raises(Conflict):
        store.repository.put_new(first.model_copy(update={"targetUrl": "https://other.example.com/"}))

    assert store.repository.get(first.id) == first


# ---- transition -------------------------------------------------------------------------------


def test_transition_from_an_allowed_status_writes_the_changes(store: Store) -> None:
    task = make_task(5)
    store.repository.put_new(task)

    moved = store.repository.apply(task, Transition(S.PROCESSING,
                                                    {"startedAt": created_at(6), "updatedAt": created_at(6)},
                                                    from_=frozenset({S.PENDING})))

    assert moved.status is S.PROCESSING
    assert moved.startedAt == created_at(6)
    stored = store.repository.get(task.id)
    assert stored == moved
    assert stored is not None
    assert stored.public() == {**task.public(), "status": "processing", "startedAt": created_at(6),
                               "updatedAt": created_at(6)}


def test_transition_from_a_status_not_allowed_is_a_conflict_and_changes_nothing(store: Store) -> None:
    task = make_task(7)
    store.repository.put_new(task)

    with pytest.raises(Conflict):
        store.repository.apply(task, Transition(S.COMPLETED, {"completedAt": created_at(8)},
                                                from_=frozenset({S.PROCESSING, S.WAITING})))

    assert store.repository.get(task.id) == task


def test_transition_checks_the_stored_status_not_the_callers_copy(store: Store) -> None:
    task = make_task(9)
    store.repository.put_new(task)
    store.repository.apply(task, Transition(S.PROCESSING, {"startedAt": created_at(10)}, from_=frozenset({S.PENDING})))
    stale = task  # still says pending

    with pytest.raises(Conflict):
        store.repository.apply(stale, Transition(S.CANCELLED, {"completedAt": created_at(11)},
                                                 from_=frozenset(CANCELLABLE)))

    stored = store.repository.get(task.id)
    assert stored is not None and stored.status is S.PROCESSING and stored.completedAt is None


def test_a_move_the_lifecycle_forbids_is_refused_before_writing(store: Store) -> None:
    """processing -> cancelled is not in the table: refused by the fake and by DynamoDB alike,
    whatever the row holds, and nothing is written."""
    task = make_task(30, status=S.PROCESSING, startedAt=created_at(30))
    store.repository.put_new(task)

    with pytest.raises(IllegalTransition, match="illegal transition processing -> cancelled"):
        store.repository.apply(task, Transition(S.CANCELLED, {"completedAt": created_at(31)},
                                                from_=frozenset({S.PROCESSING})))

    assert store.repository.get(task.id) == task


def test_a_stored_status_from_which_the_target_is_illegal_is_a_conflict(store: Store) -> None:
    """The condition is derived from the table: pending -> waiting is not a legal move, so a
    transition to waiting (whose only source is processing) never applies to a pending row.
    The fake used to accept it."""
    task = make_task(32)
    store.repository.put_new(task)

    with pytest.raises(Conflict):
        store.repository.apply(task, Transition(S.WAITING, {"updatedAt": created_at(33)}))

    assert store.repository.get(task.id) == task


@pytest.mark.parametrize("changes", [{"startedAtt": "2026-01-01T00:00:00.000Z"}, {"teamId": "team-b"},
                                     {"status": "completed"}])
def test_an_unknown_or_unchangeable_field_is_refused_before_writing(store: Store, changes: dict[str, Any]) -> None:
    """A misspelled field, or one no transition may set: the fake used to drop it silently while
    DynamoDB stored it; both refuse it now, and nothing is written."""
    task = make_task(34)
    store.repository.put_new(task)

    with pytest.raises(IllegalTransition, match="cannot set or expect"):
        store.repository.apply(task, Transition(S.PROCESSING, changes, from_=frozenset({S.PENDING})))  # type: ignore[arg-type]

    assert store.repository.get(task.id) == task


def test_every_transition_and_progress_write_increments_the_version(store: Store) -> None:
    task = make_task(36)
    store.repository.put_new(task)
    assert (stored := store.repository.get(task.id)) is not None and stored.version == 1

    claimed = store.repository.apply(task, Transition(S.PROCESSING, {"claimToken": "run-1"},
                                                      from_=frozenset({S.PENDING})))
    assert claimed.version == 2
    store.repository.report_progress(task.id, "run-1", 40, "halfway", created_at(37))
    stored = store.repository.get(task.id)
    assert stored is not None and stored.version == 3 and stored.progress == 40

    with pytest.raises(Conflict):  # written since version 2 was read
        store.repository.apply(claimed, Transition(S.COMPLETED, {"claimToken": None}, version=2))
    done = store.repository.apply(claimed, Transition(S.COMPLETED, {"claimToken": None}, version=3))
    assert done.version == 4 and done.status is S.COMPLETED


def test_transition_of_a_missing_task_is_not_found(store: Store) -> None:
    ghost = make_task(12)
    with pytest.raises(NotFound):
        store.repository.apply(ghost, Transition(S.CANCELLED, {"completedAt": created_at(13)},
                                                 from_=frozenset({S.PENDING})))
    assert store.repository.get(ghost.id) is None  # the update did not create a row


def test_none_in_changes_removes_the_field(store: Store) -> None:
    task = make_task(14, status=S.PROCESSING, error="ECONNREFUSED", startedAt=created_at(14))
    store.repository.put_new(task)

    moved = store.repository.apply(task, Transition(S.PENDING, {"error": None, "startedAt": None,
                                                                          "retryCount": 1},
                                                                          from_=frozenset({S.PROCESSING})))

    stored = store.repository.get(task.id)
    assert stored is not None
    assert stored == moved
    assert stored.error is None and stored.startedAt is None
    assert stored.retryCount == 1 and type(stored.retryCount) is int
    assert "error" not in stored.public() and "startedAt" not in stored.public()
    if store.kind == "dynamo":
        item = store.raw(task.id)
        assert item is not None
        assert "error" not in item and "startedAt" not in item


# ---- list_for_team ----------------------------------------------------------------------------


@pytest.fixture
def listed(store: Store) -> tuple[Store, list[Task]]:
    """Team A: 7 tasks created in order, #1 and #4 cancelled. Team B: 2 tasks interleaved."""
    tasks = []
    for n in range(7):
        task = make_task(100 + 2 * n)
        store.repository.put_new(task)
        tasks.append(task)
    for n in range(2):
        store.repository.put_new(make_task(101 + 2 * n, team=OTHER_TEAM))
    for i in (1, 4):
        tasks[i] = store.repository.apply(tasks[i], Transition(S.CANCELLED, {"completedAt": created_at(900)},
                                                               from_=frozenset(CANCELLABLE)))
    return store, tasks


def ids(tasks: list[Task]) -> list[str]:
    return [t.id for t in tasks]


def test_list_is_newest_first_by_default(listed: tuple[Store, list[Task]]) -> None:
    store, tasks = listed
    page, total = store.list(TEAM, ListQuery())
    assert total == 7
    assert ids(page) == ids(tasks)[::-1]


def test_list_ascending_is_oldest_first(listed: tuple[Store, list[Task]]) -> None:
    store, tasks = listed
    page, total = store.list(TEAM, ListQuery(descending=False))
    assert total == 7
    assert ids(page) == ids(tasks)
    assert page[1].status is S.CANCELLED  # rows come back as stored, after transitions


@pytest.mark.parametrize(("offset", "expected"), [(0, [6, 5, 4]), (3, [3, 2, 1]), (6, [0]), (7, []), (50, [])])
def test_list_offset_and_limit(listed: tuple[Store, list[Task]], offset: int, expected: list[int]) -> None:
    store, tasks = listed
    page, total = store.list(TEAM, ListQuery(limit=3, offset=offset))
    assert total == 7
    assert ids(page) == [tasks[i].id for i in expected]


def test_list_pages_ascending(listed: tuple[Store, list[Task]]) -> None:
    store, tasks = listed
    seen: list[str] = []
    for offset in (0, 2, 4, 6):
        page, total = store.list(TEAM, ListQuery(limit=2, offset=offset, descending=False))
        assert total == 7
        seen += ids(page)
    assert seen == ids(tasks)


def test_list_filtered_by_status(listed: tuple[Store, list[Task]]) -> None:
    store, tasks = listed
    cancelled, total = store.list(TEAM, ListQuery(status=S.CANCELLED))
    assert total == 2
    assert ids(cancelled) == [tasks[4].id, tasks[1].id]
    assert all(t.status is S.CANCELLED for t in cancelled)

    pending, total = store.list(TEAM, ListQuery(status=S.PENDING, descending=False))
    assert total == 5
    assert ids(pending) == [tasks[i].id for i in (0, 2, 3, 5, 6)]

    page, total = store.list(TEAM, ListQuery(status=S.PENDING, limit=2, offset=4))
    assert total == 5
    assert ids(page) == [tasks[0].id]

    nothing, total = store.list(TEAM, ListQuery(status=S.COMPLETED))
    assert (nothing, total) == ([], 0)


def test_list_only_shows_the_teams_own_tasks(listed: tuple[Store, list[Task]]) -> None:
    store, _ = listed
    page, total = store.list(OTHER_TEAM, ListQuery())
    assert total == 2
    assert {t.teamId for t in page} == {OTHER_TEAM}
    assert ids(page) == [f"task-{OTHER_TEAM}-0103", f"task-{OTHER_TEAM}-0101"]
    assert store.list("team-nobody", ListQuery()) == ([], 0)
    filtered, total = store.list(OTHER_TEAM, ListQuery(status=S.CANCELLED))
    assert (filtered, total) == ([], 0)


class RecordedCalls:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> RecordedCalls:
    """Every botocore API call made in this process (PynamoDB's and boto3's alike)."""
    recorded = RecordedCalls()
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            recorded.calls.append((operation_name, dict(api_params)))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return recorded


@pytest.mark.parametrize("status", [None, S.PENDING, S.CANCELLED])
@pytest.mark.parametrize("offset", [0, 3])
def test_list_reads_index_keys_then_the_pages_items_never_a_scan(
    dynamo: Store, dynamodb_calls: RecordedCalls, status: TaskStatus | None, offset: int
) -> None:
    for n in range(6):
        dynamo.repository.put_new(make_task(n))
    dynamo.repository.apply(make_task(2), Transition(S.CANCELLED, {"completedAt": created_at(50)},
                                                     from_=frozenset({S.PENDING})))
    dynamodb_calls.calls.clear()

    page = dynamo.repository.list_for_team(TEAM, ListQuery(status=status, limit=2, offset=offset))

    assert len(page.tasks) == {None: 2, S.PENDING: 2, S.CANCELLED: 1 - min(offset, 1)}[status]
    operations = dynamodb_calls.operations()
    assert set(operations) <= {"Query", "BatchGetItem"}, operations
    phases = {params["ExpressionAttributeValues"][":0"]["S"] for name, params in dynamodb_calls.calls
              if name == "Query"}
    for name, params in dynamodb_calls.calls:
        if name == "Query":
            assert params["TableName"] == dynamo.aws.env["TASKS_TABLE"]  # type: ignore[union-attr]
            assert params["IndexName"] == "byTeamPhase"
        else:
            assert params.get("ConsistentRead", False) is False  # eventually consistent, as the index is
            (table, request), = params["RequestItems"].items()
            assert table == dynamo.aws.env["TASKS_TABLE"]  # type: ignore[union-attr]
            # The page's items only: an offset skips keys. An open filter reads the items it skips
            # and one more match (the keys cannot tell the status): that is what tells hasMore.
            assert len(request["Keys"]) <= (offset + 2 + 1 if status is S.PENDING else 2)
    expected = {None: {f"{TEAM}#{p}" for p in ("open", "completed", "failed", "timeout", "cancelled")},
                S.PENDING: {f"{TEAM}#open"}, S.CANCELLED: {f"{TEAM}#cancelled"}}[status]
    assert phases == expected


# ---- delayed tasks and the sparse delayedDue index ----------------------------------------------


def test_delayed_task_is_listed_as_delayed_until_promoted(store: Store) -> None:
    task = make_task(20, status=S.DELAYED, delayUntil="2099-01-01T00:00:00.000Z")
    store.repository.put_new(task)
    delayed, total = store.list(TEAM, ListQuery(status=S.DELAYED))
    assert (ids(delayed), total) == ([task.id], 1)

    store.repository.apply(task, Transition(S.PENDING, {"updatedAt": created_at(21)}, from_=frozenset({S.DELAYED})))

    assert store.list(TEAM, ListQuery(status=S.DELAYED)) == ([], 0)
    pending, total = store.list(TEAM, ListQuery(status=S.PENDING))
    assert (ids(pending), total) == ([task.id], 1)
    stored = store.repository.get(task.id)
    assert stored is not None and stored.status is S.PENDING
    assert stored.delayUntil == "2099-01-01T00:00:00.000Z"  # kept: it is the customer's field
    assert "delayedShard" not in stored.public() and "dueAt" not in stored.public()


def _delayed_index_ids(store: Store) -> set[str]:
    assert store.aws is not None
    ddb = store.aws.client("dynamodb")
    rows = ddb.query(
        TableName=store.aws.env["TASKS_TABLE"], IndexName="delayedDue",
        KeyConditionExpression="delayedShard = :shard", ExpressionAttributeValues={":shard": {"S": "delayed"}},
    )["Items"]
    return {row["id"]["S"] for row in rows}


def test_only_delayed_rows_carry_the_sparse_index_attributes(dynamo: Store) -> None:
    due = "2099-01-01T00:00:00.000Z"
    delayed = make_task(30, status=S.DELAYED, delayUntil=due)
    pending = make_task(31, delayUntil="2020-01-01T00:00:00.000Z")  # delayUntil in the past: not delayed
    plain = make_task(32)
    for task in (delayed, pending, plain):
        dynamo.repository.put_new(task)

    item = dynamo.raw(delayed.id)
    assert item is not None
    assert item["delayedShard"] == {"S": "delayed"}
    assert item["dueAt"] == {"S": due}
    assert item["teamPhase"] == {"S": f"{TEAM}#open"} and "teamStatus" not in item
    for task in (pending, plain):
        item = dynamo.raw(task.id)
        assert item is not None
        assert "delayedShard" not in item and "dueAt" not in item
        assert item["teamPhase"] == {"S": f"{TEAM}#open"}
    assert _delayed_index_ids(dynamo) == {delayed.id}

    dynamo.repository.apply(delayed, Transition(S.PENDING, {"updatedAt": created_at(33)}, from_=frozenset({S.DELAYED})))

    item = dynamo.raw(delayed.id)
    assert item is not None
    assert "delayedShard" not in item and "dueAt" not in item
    assert item["teamPhase"] == {"S": f"{TEAM}#open"}
    assert item["delayUntil"] == {"S": due}
    assert _delayed_index_ids(dynamo) == set()


def test_cancelling_a_delayed_task_leaves_the_delayed_index(dynamo: Store) -> None:
    task = make_task(40, status=S.DELAYED, delayUntil="2099-01-01T00:00:00.000Z")
    dynamo.repository.put_new(task)
    assert _delayed_index_ids(dynamo) == {task.id}

    dynamo.repository.apply(task, Transition(S.CANCELLED, {"completedAt": created_at(41)},
                                             from_=frozenset(CANCELLABLE)))

    item = dynamo.raw(task.id)
    assert item is not None
    assert item["status"] == {"S": "cancelled"}
    assert item["teamPhase"] == {"S": f"{TEAM}#cancelled"}
    assert "delayedShard" not in item and "dueAt" not in item
    assert _delayed_index_ids(dynamo) == set()


def test_raw_item_uses_native_dynamodb_types(dynamo: Store) -> None:
    task = full_task()
    dynamo.repository.put_new(task)
    item = dynamo.raw(task.id)
    assert item is not None
    assert item["headers"] == {"M": {"Authorization": {"S": "Bearer service-token"}, "X-Trace": {"S": "abc"}}}
    assert item["pollConfig"]["M"]["doneValues"] == {"L": [{"S": "COMPLETED"}, {"S": "OK"}]}
    assert item["priority"] == {"N": "8"}
    assert item["maxRetries"] == {"N": "7"}
    assert float(item["maxWaitTime"]["N"]) == 120


def test_a_stale_claim_taken_over_moves_the_deadline_by_the_crash_credit(store: Store) -> None:
    """Issue 11.4: the successor of a crashed run stores its wait credit, and the timeout sweep's
    query (the activeDeadline index on DynamoDB) sees the later deadline."""
    from datetime import UTC, datetime

    from taskhook.model import lifecycle

    crashed = make_task(7, status=S.PROCESSING, claimToken="crashed", claimedAt="2024-01-15T10:30:00.000Z",
                        startedAt="2024-01-15T10:30:00.000Z", maxWaitTime=30, timeout=30)
    store.repository.put_new(crashed)
    assert [t.id for t in store.repository.started_past_deadline("2024-01-15T10:30:31.000Z")] == [crashed.id]

    now = datetime(2024, 1, 15, 10, 31, 0, tzinfo=UTC)  # 60 s after the crashed claim
    taken = store.repository.apply(crashed, lifecycle.claim(crashed, "successor", now))

    stored = store.repository.get(crashed.id)
    assert stored == taken and stored is not None
    assert stored.waitCredit == 60 and stored.claimToken == "successor"
    assert store.repository.started_past_deadline("2024-01-15T10:31:29.000Z") == []
    assert [t.id for t in store.repository.started_past_deadline("2024-01-15T10:31:31.000Z")] == [crashed.id]


# ---- unfinished(): the local stack's restart reads every task that is not over ----------------


def test_unfinished_returns_every_task_not_in_a_final_status_whole(store: Store) -> None:
    from taskhook.model.status import TERMINAL

    stored: dict[str, Task] = {}
    for n, status in enumerate(TaskStatus):
        task = full_task().model_copy(update={"id": f"task-{status.value}", "status": status,
                                              "createdAt": created_at(n), "updatedAt": created_at(n)})
        store.repository.put_new(task)
        stored[task.id] = task
    delayed = stored["task-delayed"]
    store.repository.apply(delayed, Transition(S.CANCELLED, {"completedAt": created_at(50)},
                                               from_=frozenset({S.DELAYED})))  # over since it was stored

    unfinished = list(store.repository.unfinished())

    expected = {S.PENDING, S.PROCESSING, S.WAITING, S.POLLING}
    assert expected == set(TaskStatus) - TERMINAL - {S.DELAYED}
    assert sorted(t.id for t in unfinished) == sorted(f"task-{s.value}" for s in expected)
    for task in unfinished:  # whole tasks, as get() reads them: nothing left out
        assert task == store.repository.get(task.id) == stored[task.id]
        assert task.headers == {"Authorization": "Bearer service-token", "X-Trace": "abc"}
        assert task.pollConfig == POLL_CONFIG


def test_unfinished_of_an_empty_or_finished_table_is_empty(store: Store) -> None:
    assert list(store.repository.unfinished()) == []
    store.repository.put_new(make_task(1, status=S.COMPLETED))
    assert list(store.repository.unfinished()) == []


def test_unfinished_is_one_paginated_filtered_scan_and_no_read_per_task(
        dynamo: Store, dynamodb_calls: RecordedCalls, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskhook.adapters.dynamo import tasks as dynamo_tasks

    for n in range(7):
        dynamo.repository.put_new(make_task(n, status=S.PENDING if n % 2 else S.FAILED))
    monkeypatch.setattr(dynamo_tasks, "SCAN_PAGE_SIZE", 2)  # several pages out of seven rows
    dynamodb_calls.calls.clear()

    ids_read = sorted(t.id for t in dynamo.repository.unfinished())

    assert ids_read == [make_task(n).id for n in (1, 3, 5)]
    assert set(dynamodb_calls.operations()) == {"Scan"}  # no GetItem per task, no BatchGetItem
    assert len(dynamodb_calls.calls) >= 4  # it followed LastEvaluatedKey to the end
    for _, params in dynamodb_calls.calls:
        assert params["TableName"] == dynamo.aws.env["TASKS_TABLE"]  # type: ignore[union-attr]
        assert "FilterExpression" in params  # the finished rows are not sent back
        assert "ProjectionExpression" not in params and "Select" not in params  # whole items
        assert "IndexName" not in params


def test_the_write_that_changes_the_status_stamps_its_version_and_others_do_not(store: Store) -> None:
    """Issue 12.4: a stream consumer reads "did this write change the status?" from the new image
    alone (statusVersion == version), not from an old image that may be stale."""
    from datetime import UTC, datetime

    from taskhook.model import lifecycle

    now = datetime(2024, 1, 15, 10, 31, 0, tzinfo=UTC)
    task = make_task(8)
    store.repository.put_new(task)
    created = store.repository.get(task.id)
    assert created is not None and created.version == 1 and created.statusVersion == 1

    claimed = store.repository.apply(created, lifecycle.claim(created, "run-1", now))
    assert (claimed.version, claimed.statusVersion) == (2, 2)

    store.repository.report_progress(task.id, "run-1", 40, "working", "2024-01-15T10:31:01.000Z")
    progressed = store.repository.get(task.id)
    assert progressed is not None and (progressed.version, progressed.statusVersion) == (3, 2)

    later = datetime(2024, 1, 15, 10, 35, 0, tzinfo=UTC)  # the claim is stale: taken over, still processing
    taken = store.repository.apply(progressed, lifecycle.claim(progressed, "run-2", later))
    assert (taken.status, taken.version, taken.statusVersion) == (S.PROCESSING, 4, 2)

    done = store.repository.apply(taken, lifecycle.finish(taken, S.COMPLETED, later, "run-2"))
    assert (done.version, done.statusVersion) == (5, 5)
    assert store.repository.get(task.id) == done
