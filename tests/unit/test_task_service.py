"""TaskService over the in-memory repository, with a fake clock: no AWS, no real sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhook.intake.listing import parse_list_query
from taskhook.intake.tasks import TaskService
from taskhook.intake.validation import CreateTaskRequest, parse_create_request
from taskhook.model.errors import AccessDenied, Conflict, NotFound
from taskhook.model.lifecycle import Transition
from taskhook.model.status import CANCELLABLE, TERMINAL, TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryIdempotency, InMemoryTaskRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
URL = "https://api.example.com/webhook"
TEAM, OTHER_TEAM = "team-a", "team-b"
NOT_CANCELLABLE = sorted(set(TaskStatus) - CANCELLABLE)


class FakeTime:
    """Wall clock, monotonic clock and sleep in one: sleeping only moves both clocks forward."""

    def __init__(self) -> None:
        self.now = NOW
        self.mono = 1_000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the service must never spin with a zero sleep"
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now += timedelta(seconds=seconds)


class SequentialIds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"task-{self.count:04d}"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def repo() -> InMemoryTaskRepository:
    return InMemoryTaskRepository()


def make_service(repository: InMemoryTaskRepository, fake_time: FakeTime) -> TaskService:
    return TaskService(
        repository=repository,
        clock=fake_time.clock,
        new_id=SequentialIds(),
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
        counts=repository,
    )


@pytest.fixture
def service(repo: InMemoryTaskRepository, fake_time: FakeTime) -> TaskService:
    return make_service(repo, fake_time)


def request(**fields: Any) -> CreateTaskRequest:
    return parse_create_request({"targetUrl": URL, **fields})


def stored_with_status(service: TaskService, status: TaskStatus, team: str = TEAM) -> Task:
    """A task put straight into the repository in `status`, as a worker would have left it."""
    task = service.new_task(team, request()).model_copy(update={"status": status})
    service.repository.put_new(task)
    return task


def force_status(repo: InMemoryTaskRepository, task_id: str, status: TaskStatus, **changes: Any) -> None:
    """Move a stored task like a worker would (one conditional write from its current status)."""
    current = repo.get(task_id)
    assert current is not None
    repo.apply(current, Transition(status, changes, from_=frozenset({current.status})))


# ---------------------------------------------------------------------------------------------
# create


def test_create_stores_a_pending_task(service: TaskService, repo: InMemoryTaskRepository) -> None:
    task = service.create(TEAM, request(method="get", priority=8, headers={"X-A": "b"}))

    assert task.id == "task-0001"
    assert task.teamId == TEAM
    assert task.status is S.PENDING
    assert task.retryCount == 0
    assert task.createdAt == task.updatedAt == "2024-01-15T10:30:00.000Z"
    assert (task.method, task.priority, task.headers) == ("GET", 8, {"X-A": "b"})
    assert task.startedAt is None and task.completedAt is None
    assert repo.get(task.id) == task
    assert repo.writes == 1


def test_created_task_looks_like_the_seed_response(service: TaskService) -> None:
    body = '{"action": "process", "data": {"id": 123}}'
    task = service.create(
        TEAM,
        request(
            method="POST",
            headers={"Authorization": "Bearer service-token"},
            body=body,
            maxRetries=3,
            retryBackoff="exponential",
            priority=8,
            onCompleteUrl="https://api.example.com/task-complete",
        ),
    )
    seed_response = {
        "id": "task-0001",
        "teamId": TEAM,
        "status": "pending",
        "targetUrl": URL,
        "method": "POST",
        "headers": {"Authorization": "Bearer service-token"},
        "body": body,
        "maxWaitTime": 30,
        "timeout": 30,
        "maxRetries": 3,
        "retryCount": 0,
        "retryBackoff": "exponential",
        "priority": 8,
        "onCompleteUrl": "https://api.example.com/task-complete",
        "createdAt": "2024-01-15T10:30:00.000Z",
    }
    public = task.public()
    assert {name: public.get(name) for name in seed_response} == seed_response
    assert type(public["maxWaitTime"]) is int and type(public["timeout"]) is int


@pytest.mark.parametrize(
    ("delay_until", "status"),
    [
        ("2024-01-15T10:30:01Z", S.DELAYED),  # one second ahead
        ("2024-01-16T00:00:00Z", S.DELAYED),
        ("2024-01-15T12:30:01+02:00", S.DELAYED),  # 10:30:01Z, written with an offset
        ("2024-01-15T10:30:01", S.DELAYED),  # naive: UTC
        ("2024-01-15T10:30:00Z", S.PENDING),  # due exactly now
        ("2024-01-15T10:29:59Z", S.PENDING),
        ("2020-01-01T00:00:00Z", S.PENDING),
        ("2024-01-15T12:29:59+02:00", S.PENDING),
    ],
)
def test_create_with_delay_until(service: TaskService, delay_until: str, status: TaskStatus) -> None:
    task = service.create(TEAM, request(delayUntil=delay_until))
    assert task.status is status
    assert task.delayUntil is not None and task.delayUntil.endswith("Z")


def test_create_with_an_id_already_taken_is_a_conflict_and_keeps_the_first(
    repo: InMemoryTaskRepository, fake_time: FakeTime
) -> None:
    service = TaskService(repository=repo, clock=fake_time.clock, new_id=lambda: "same-id")
    first = service.create(TEAM, request(priority=1))
    with pytest.raises(Conflict):
        service.create(OTHER_TEAM, request(priority=9))
    assert repo.get("same-id") == first


# ---------------------------------------------------------------------------------------------
# get


def test_get_own_task(service: TaskService) -> None:
    task = service.create(TEAM, request())
    assert service.get(TEAM, task.id) == task


def test_get_another_teams_task_is_access_denied(service: TaskService) -> None:
    task = service.create(TEAM, request())
    with pytest.raises(AccessDenied) as info:
        service.get(OTHER_TEAM, task.id)
    assert (info.value.status_code, info.value.message) == (403, "Access denied")


def test_get_unknown_task_is_not_found(service: TaskService) -> None:
    with pytest.raises(NotFound) as info:
        service.get(TEAM, "no-such-task")
    assert (info.value.status_code, info.value.message) == (404, "Task not found")


# ---------------------------------------------------------------------------------------------
# list


@pytest.fixture
def listed(service: TaskService, fake_time: FakeTime) -> list[Task]:
    """Five team-a tasks one minute apart, interleaved with two team-b tasks."""
    tasks = []
    for n in range(5):
        tasks.append(service.create(TEAM, request()))
        if n < 2:
            service.create(OTHER_TEAM, request())
        fake_time.advance(60)
    return tasks


def ids_of(tasks: list[Task]) -> list[str]:
    return [t.id for t in tasks]


def listed_ids(service: TaskService, team: str, params: dict[str, str]) -> tuple[list[str], int]:
    page, total = service.list(team, parse_list_query(params))
    return ids_of(page.tasks), total


def test_list_sees_only_the_teams_tasks_newest_first(service: TaskService, listed: list[Task]) -> None:
    page, total = service.list(TEAM, parse_list_query({}))
    assert total == 5
    assert ids_of(page.tasks) == ids_of(listed)[::-1]
    assert all(t.teamId == TEAM for t in page.tasks)

    other, other_total = service.list(OTHER_TEAM, parse_list_query({}))
    assert other_total == 2 and all(t.teamId == OTHER_TEAM for t in other.tasks)
    assert not set(ids_of(other.tasks)) & set(ids_of(listed))


def test_list_ascending(service: TaskService, listed: list[Task]) -> None:
    assert listed_ids(service, TEAM, {"sortOrder": "asc"})[0] == ids_of(listed)


def test_list_pages_with_limit_and_offset(service: TaskService, listed: list[Task]) -> None:
    assert listed_ids(service, TEAM, {"limit": "2", "offset": "1", "sortOrder": "asc"}) == (ids_of(listed)[1:3], 5)
    assert listed_ids(service, TEAM, {"offset": "10"}) == ([], 5)


def test_list_filters_by_status(service: TaskService, listed: list[Task]) -> None:
    service.cancel(TEAM, listed[1].id)
    service.cancel(TEAM, listed[3].id)

    assert listed_ids(service, TEAM, {"status": "cancelled"}) == ([listed[3].id, listed[1].id], 2)
    assert listed_ids(service, TEAM, {"status": "pending"}) == ([listed[4].id, listed[2].id, listed[0].id], 3)
    assert listed_ids(service, TEAM, {"status": "failed"}) == ([], 0)


def test_list_without_counts_says_what_is_missing(repo: InMemoryTaskRepository) -> None:
    with pytest.raises(TypeError, match="TaskCounts"):
        TaskService(repository=repo).list(TEAM, parse_list_query({}))


# ---------------------------------------------------------------------------------------------
# cancel


@pytest.mark.parametrize("status", sorted(CANCELLABLE), ids=lambda s: s.value)
def test_cancel_from_a_cancellable_status(
    service: TaskService, repo: InMemoryTaskRepository, fake_time: FakeTime, status: TaskStatus
) -> None:
    task = stored_with_status(service, status)
    fake_time.advance(60)

    cancelled = service.cancel(TEAM, task.id)

    assert cancelled.status is S.CANCELLED
    assert cancelled.completedAt == cancelled.updatedAt == "2024-01-15T10:31:00.000Z"
    assert cancelled.createdAt == task.createdAt
    assert repo.get(task.id) == cancelled


@pytest.mark.parametrize("status", NOT_CANCELLABLE, ids=lambda s: s.value)
def test_cancel_from_any_other_status_is_a_conflict_and_changes_nothing(
    service: TaskService, repo: InMemoryTaskRepository, status: TaskStatus
) -> None:
    task = stored_with_status(service, status)
    writes = repo.writes

    with pytest.raises(Conflict) as info:
        service.cancel(TEAM, task.id)

    assert info.value.status_code == 409
    assert info.value.message == f"Task cannot be cancelled: status is {status.value}"
    assert repo.get(task.id) == task
    assert repo.writes == writes


def test_cancel_another_teams_task_is_denied_and_changes_nothing(
    service: TaskService, repo: InMemoryTaskRepository
) -> None:
    task = service.create(TEAM, request())
    with pytest.raises(AccessDenied):
        service.cancel(OTHER_TEAM, task.id)
    assert repo.get(task.id) == task


def test_cancel_unknown_task_is_not_found(service: TaskService) -> None:
    with pytest.raises(NotFound):
        service.cancel(TEAM, "no-such-task")


class MovesAfterRead(InMemoryTaskRepository):
    """A repository where, right after the next read, a worker moves the task (a race)."""

    def __init__(self) -> None:
        super().__init__()
        self.after_next_read: list[tuple[TaskStatus, dict[str, Any]]] = []

    def get(self, task_id: str) -> Task | None:
        task = super().get(task_id)
        steps, self.after_next_read = self.after_next_read, []
        for status, changes in steps:
            force_status(self, task_id, status, **changes)
        return task  # the caller holds the state from before the worker's write


def test_cancel_racing_with_a_claim_is_a_conflict_and_the_claim_wins(fake_time: FakeTime) -> None:
    repo = MovesAfterRead()
    service = make_service(repo, fake_time)
    task = service.create(TEAM, request())
    repo.after_next_read = [(S.PROCESSING, {"startedAt": "2024-01-15T10:30:00.500Z"})]

    with pytest.raises(Conflict) as info:
        service.cancel(TEAM, task.id)

    assert info.value.message == "Task cannot be cancelled: status is processing"
    stored = repo.get(task.id)
    assert stored is not None
    assert stored.status is S.PROCESSING
    assert stored.completedAt is None
    assert stored.startedAt == "2024-01-15T10:30:00.500Z"


def test_cancel_still_succeeds_if_the_task_moved_to_another_cancellable_status(fake_time: FakeTime) -> None:
    repo = MovesAfterRead()
    service = make_service(repo, fake_time)
    task = service.create(TEAM, request())
    repo.after_next_read = [(S.PROCESSING, {}), (S.WAITING, {})]

    assert service.cancel(TEAM, task.id).status is S.CANCELLED
    stored = repo.get(task.id)
    assert stored is not None and stored.status is S.CANCELLED


# ---------------------------------------------------------------------------------------------
# wait_for_change (long poll)


@pytest.mark.parametrize("wait", [0, -1, 0.0])
def test_wait_of_zero_returns_at_once(service: TaskService, fake_time: FakeTime, wait: float) -> None:
    task = service.create(TEAM, request())
    assert service.wait_for_change(TEAM, task.id, wait, interval=1) == task
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=lambda s: s.value)
def test_wait_on_a_terminal_task_returns_at_once(service: TaskService, fake_time: FakeTime, status: TaskStatus) -> None:
    task = stored_with_status(service, status)
    assert service.wait_for_change(TEAM, task.id, 20, interval=1) == task
    assert fake_time.sleeps == []


def test_wait_returns_as_soon_as_the_status_changes(
    service: TaskService, repo: InMemoryTaskRepository, fake_time: FakeTime
) -> None:
    task = service.create(TEAM, request())

    def claim_on_third_sleep(count: int) -> None:
        if count == 3:
            force_status(repo, task.id, S.PROCESSING)

    fake_time.on_sleep = claim_on_third_sleep

    seen = service.wait_for_change(TEAM, task.id, 20, interval=1)

    assert seen.status is S.PROCESSING
    assert fake_time.sleeps == [1, 1, 1]


def test_wait_returns_the_unchanged_task_when_the_wait_elapses(service: TaskService, fake_time: FakeTime) -> None:
    task = service.create(TEAM, request())
    start = fake_time.monotonic()

    seen = service.wait_for_change(TEAM, task.id, 5, interval=2)

    assert seen == task
    assert fake_time.sleeps == [2, 2, 1]  # the last sleep is cut to the deadline
    assert fake_time.monotonic() - start == 5


def test_wait_ignores_writes_that_keep_the_status(
    service: TaskService, repo: InMemoryTaskRepository, fake_time: FakeTime
) -> None:
    task = stored_with_status(service, S.POLLING)
    fake_time.on_sleep = lambda count: force_status(repo, task.id, S.POLLING, error=f"poll {count}")

    seen = service.wait_for_change(TEAM, task.id, 3, interval=1)

    assert seen.status is S.POLLING
    assert fake_time.sleeps == [1, 1, 1]
    assert seen.error == "poll 3"  # the latest read is returned


@pytest.mark.parametrize(("wait", "interval", "sleeps"), [(60, 10, [10, 10, 5]), (25.5, 25, [25]), (1000, 30, [25])])
def test_wait_is_capped_at_25_seconds(
    service: TaskService, fake_time: FakeTime, wait: float, interval: float, sleeps: list[float]
) -> None:
    task = service.create(TEAM, request())
    service.wait_for_change(TEAM, task.id, wait, interval=interval)
    assert fake_time.sleeps == sleeps
    assert sum(fake_time.sleeps) == 25


def test_wait_on_another_teams_task_is_denied_without_waiting(service: TaskService, fake_time: FakeTime) -> None:
    task = service.create(TEAM, request())
    with pytest.raises(AccessDenied):
        service.wait_for_change(OTHER_TEAM, task.id, 20, interval=1)
    assert fake_time.sleeps == []


# ---------------------------------------------------------------------------------------------
# create_idempotent


@pytest.fixture
def idempotency() -> InMemoryIdempotency:
    return InMemoryIdempotency()


def test_same_key_and_body_returns_the_first_task(
    service: TaskService, repo: InMemoryTaskRepository, idempotency: InMemoryIdempotency
) -> None:
    first, created = service.create_idempotent(TEAM, "key-1", request(priority=8), idempotency)
    again, created_again = service.create_idempotent(TEAM, "key-1", request(priority=8), idempotency)

    assert (created, created_again) == (True, False)
    assert again == first
    assert repo.writes == 1
    assert service.list(TEAM, parse_list_query({}))[1] == 1


def test_replay_returns_the_first_task_as_it_is_now(service: TaskService, idempotency: InMemoryIdempotency) -> None:
    first, _ = service.create_idempotent(TEAM, "key-1", request(), idempotency)
    service.cancel(TEAM, first.id)
    again, created = service.create_idempotent(TEAM, "key-1", request(), idempotency)
    assert (again.id, again.status, created) == (first.id, S.CANCELLED, False)


def test_same_key_with_a_different_body_is_a_conflict(
    service: TaskService, repo: InMemoryTaskRepository, idempotency: InMemoryIdempotency
) -> None:
    service.create_idempotent(TEAM, "key-1", request(priority=8), idempotency)
    with pytest.raises(Conflict) as info:
        service.create_idempotent(TEAM, "key-1", request(priority=9), idempotency)
    assert info.value.status_code == 409
    assert info.value.message == "Idempotency-Key was already used with a different request body"
    assert repo.writes == 1


def test_the_same_key_in_two_teams_is_two_tasks(service: TaskService, idempotency: InMemoryIdempotency) -> None:
    mine, mine_created = service.create_idempotent(TEAM, "key-1", request(), idempotency)
    theirs, theirs_created = service.create_idempotent(OTHER_TEAM, "key-1", request(priority=2), idempotency)

    assert mine_created and theirs_created
    assert mine.id != theirs.id
    assert (mine.teamId, theirs.teamId) == (TEAM, OTHER_TEAM)
    assert service.create_idempotent(TEAM, "key-1", request(), idempotency) == (mine, False)


def test_different_keys_create_different_tasks(service: TaskService, idempotency: InMemoryIdempotency) -> None:
    a, _ = service.create_idempotent(TEAM, "key-1", request(), idempotency)
    b, created = service.create_idempotent(TEAM, "key-2", request(), idempotency)
    assert created and a.id != b.id
