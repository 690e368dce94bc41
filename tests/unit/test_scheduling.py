"""Getting tasks onto the queues: the stream's dispatch of new tasks, the minute sweep (far-delayed
tasks, repairs, maxWaitTime timeouts) and the dead-letter consumer (DESIGN.md §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhook.dispatch.sweep import REPAIR_GRACE, SWEEP_WINDOW, Scheduler, SweepReport, fail_dead_letter
from taskhook.model.clock import iso
from taskhook.model.dispatch import Dispatch, dispatch_for_new_task
from taskhook.model.lanes import Lane
from taskhook.model.lifecycle import Transition, can_transition
from taskhook.model.limits import SQS_MAX_DELAY
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskQueue, InMemoryTaskRepository
from tests.support.recording import RecordingRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
TASK_ID = "task-1"


def at(seconds: float) -> str:
    return iso(NOW + timedelta(seconds=seconds))


def make_task(task_id: str = TASK_ID, **fields: Any) -> Task:
    data: dict[str, Any] = {"id": task_id, "teamId": "team-a", "status": S.PENDING,
                            "targetUrl": "https://api.example.com/hook", "createdAt": at(0), "updatedAt": at(0)}
    data.update(fields)
    return Task.model_validate(data)


class World:
    def __init__(self) -> None:
        self.repo = RecordingRepository()
        self.queue = InMemoryTaskQueue()
        self.now = NOW
        self.scheduler = Scheduler(self.repo, self.queue, clock=lambda: self.now)

    def add(self, task_id: str = TASK_ID, **fields: Any) -> Task:
        task = make_task(task_id, **fields)
        self.repo.put_new(task)
        return task

    def at(self, seconds: float) -> World:
        self.now = NOW + timedelta(seconds=seconds)
        return self

    def sweep(self) -> SweepReport:
        return self.scheduler.sweep()

    def stored(self, task_id: str = TASK_ID) -> Task:
        task = self.repo.get(task_id)
        assert task is not None
        return task


# ---------------------------------------------------------------------------------------------
# the stream: new tasks


@pytest.mark.parametrize(("priority", "lane"), [(1, Lane.LOW), (3, Lane.LOW), (5, Lane.NORMAL), (9, Lane.HIGH)])
def test_new_pending_task_goes_to_its_lane_now(priority: int, lane: Lane) -> None:
    task = make_task(priority=priority)
    assert dispatch_for_new_task(task, NOW) == Dispatch(TASK_ID, lane, 0)


@pytest.mark.parametrize(("due_in", "delay"), [(10.0, 10), (10.7, 10), (9.2, 9), (0.4, 0), (900.0, 900)])
def test_new_delayed_task_due_within_15_minutes_is_sent_with_whole_seconds_rounded_down(
    due_in: float, delay: int
) -> None:
    task = make_task(status=S.DELAYED, delayUntil=at(due_in), priority=8)
    assert dispatch_for_new_task(task, NOW) == Dispatch(TASK_ID, Lane.HIGH, delay)


def test_new_delayed_task_already_due_is_sent_without_delay() -> None:
    task = make_task(status=S.DELAYED, delayUntil=at(-5))
    assert dispatch_for_new_task(task, NOW) == Dispatch(TASK_ID, Lane.NORMAL, 0)


@pytest.mark.parametrize("due_in", [900.5, 901, 20 * 60, 86_400])
def test_new_delayed_task_due_later_waits_for_the_sweep(due_in: float) -> None:
    assert dispatch_for_new_task(make_task(status=S.DELAYED, delayUntil=at(due_in)), NOW) is None


@pytest.mark.parametrize("status", [S.PROCESSING, S.WAITING, S.POLLING, *sorted(TERMINAL)])
def test_new_task_in_any_other_status_is_not_sent(status: TaskStatus) -> None:
    assert dispatch_for_new_task(make_task(status=status), NOW) is None


def test_delayed_task_without_delay_until_is_not_sent() -> None:
    assert dispatch_for_new_task(make_task(status=S.DELAYED), NOW) is None


# ---------------------------------------------------------------------------------------------
# the sweep: far-delayed tasks


def test_far_delayed_task_is_sent_once_with_the_exact_remaining_delay() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(30), createdAt=at(-20 * 60), priority=2)

    report = w.sweep()

    assert w.queue.sent == [Dispatch(TASK_ID, Lane.LOW, 30)]
    assert report.dispatched == [TASK_ID] and report.repaired == [] and report.timed_out == []
    assert report.as_dict() == {"dispatched": 1, "repaired": 0, "timedOut": 0}
    task = w.stored()
    assert task.status is S.DELAYED
    assert task.dispatchedAt == at(0)

    assert w.sweep().as_dict() == {"dispatched": 0, "repaired": 0, "timedOut": 0}
    assert w.at(60).sweep().dispatched == []  # 30 s overdue, within grace: its message is on its way
    assert len(w.queue.sent) == 1


def test_far_delayed_task_delay_is_rounded_down() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(30.9), createdAt=at(-3600))
    w.sweep()
    assert w.queue.sent == [Dispatch(TASK_ID, Lane.NORMAL, 30)]


@pytest.mark.parametrize(("due_in", "sent"), [(SWEEP_WINDOW, True), (SWEEP_WINDOW + 1, False), (1, True)])
def test_the_sweep_looks_one_window_ahead(due_in: float, sent: bool) -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(due_in), createdAt=at(-3600))
    w.sweep()
    assert bool(w.queue.sent) is sent


def test_a_far_delayed_task_is_picked_up_by_the_sweep_before_it_is_due() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(3600), createdAt=at(0))
    sends = []
    for minute in range(61):
        w.at(minute * 60).sweep()
        sends.extend((minute, d.delay_seconds) for d in w.queue.sent[len(sends):])
    assert sends == [(59, 60)]  # the first sweep within the window, with the exact delay


def test_short_delayed_task_sent_by_the_stream_is_not_sent_by_the_sweep() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(30), createdAt=at(-5 * 60))
    assert w.sweep().as_dict() == {"dispatched": 0, "repaired": 0, "timedOut": 0}
    assert w.at(30 + REPAIR_GRACE).sweep().repaired == []  # exactly at grace: still not overdue
    assert w.queue.sent == []
    assert w.stored().dispatchedAt is None


def test_short_delayed_task_overdue_beyond_grace_is_resent() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(30), createdAt=at(-5 * 60), priority=10)

    report = w.at(30 + REPAIR_GRACE + 1).sweep()

    assert report.repaired == [TASK_ID] and report.dispatched == []
    assert w.queue.sent == [Dispatch(TASK_ID, Lane.HIGH, 0)]
    assert w.stored().dispatchedAt == iso(w.now)

    assert w.at(30 + REPAIR_GRACE + 31).sweep().repaired == []  # the repair's message is on its way
    assert w.at(30 + 2 * REPAIR_GRACE + 2).sweep().repaired == [TASK_ID]  # lost again: repaired again
    assert len(w.queue.sent) == 2


def test_far_delayed_task_whose_sweep_message_was_lost_is_repaired() -> None:
    w = World()
    w.add(status=S.DELAYED, delayUntil=at(30), createdAt=at(-3600), dispatchedAt=at(0))
    assert w.at(30 + REPAIR_GRACE).sweep().repaired == []
    report = w.at(30 + REPAIR_GRACE + 1).sweep()
    assert report.repaired == [TASK_ID]
    assert w.queue.sent == [Dispatch(TASK_ID, Lane.NORMAL, 0)]


def test_sweep_sends_several_tasks_each_to_its_lane() -> None:
    w = World()
    w.add("a", status=S.DELAYED, delayUntil=at(10), createdAt=at(-3600), priority=9)
    w.add("b", status=S.DELAYED, delayUntil=at(20), createdAt=at(-3600), priority=1)
    w.add("c", status=S.DELAYED, delayUntil=at(3600), createdAt=at(-3600))
    w.add("d", status=S.PENDING)
    w.sweep()
    assert w.queue.sent == [Dispatch("a", Lane.HIGH, 10), Dispatch("b", Lane.LOW, 20)]


class FrozenReads(RecordingRepository):
    """A repository whose index queries return what they returned the first time (a stale read)."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen_delayed: list[Task] | None = None
        self.frozen_started: list[Task] | None = None

    def delayed_due_before(self, moment: str) -> list[Task]:
        if self.frozen_delayed is None:
            self.frozen_delayed = super().delayed_due_before(moment)
        return [t.model_copy(deep=True) for t in self.frozen_delayed]

    def started_past_deadline(self, moment: str) -> list[Task]:
        if self.frozen_started is None:
            self.frozen_started = super().started_past_deadline(moment)
        return [t.model_copy(deep=True) for t in self.frozen_started]


def test_two_sweeps_reading_the_same_task_send_it_once() -> None:
    repo, queue = FrozenReads(), InMemoryTaskQueue()
    repo.put_new(make_task(status=S.DELAYED, delayUntil=at(30), createdAt=at(-3600)))
    first, second = (Scheduler(repo, queue, clock=lambda: NOW) for _ in range(2))
    assert first.sweep().dispatched == [TASK_ID]
    assert second.sweep().dispatched == []  # its conditional mark lost
    assert len(queue.sent) == 1


def test_a_task_cancelled_after_the_read_is_not_sent() -> None:
    repo, queue = FrozenReads(), InMemoryTaskQueue()
    repo.put_new(make_task(status=S.DELAYED, delayUntil=at(30), createdAt=at(-3600)))
    repo.delayed_due_before(at(SWEEP_WINDOW))
    current = repo.get(TASK_ID)
    assert current is not None
    repo.apply(current, Transition(S.CANCELLED, {"completedAt": at(0)}, from_=frozenset({S.DELAYED})))
    assert Scheduler(repo, queue, clock=lambda: NOW).sweep().dispatched == []
    assert queue.sent == []


def test_the_stream_and_the_sweep_never_both_send_a_task() -> None:
    w = World()
    task = w.add(status=S.DELAYED, delayUntil=at(SQS_MAX_DELAY + 5), createdAt=at(0))
    streamed = dispatch_for_new_task(task, NOW + timedelta(seconds=10))  # stream lag: 10 s
    w.at(SQS_MAX_DELAY + 5 - 30).sweep()
    assert len(w.queue.sent) + (streamed is not None) == 1


def test_every_write_the_sweep_makes_is_a_legal_transition() -> None:
    w = World()
    w.add("far", status=S.DELAYED, delayUntil=at(30), createdAt=at(-3600))
    w.add("late", status=S.PENDING, retryCount=1, startedAt=at(-100), maxWaitTime=30)
    w.sweep()
    assert len(w.repo.moves) == 2
    assert [(a.value, b.value) for a, b in w.repo.moves if not can_transition(a, b)] == []


# ---------------------------------------------------------------------------------------------
# the sweep: maxWaitTime timeouts


def test_started_tasks_past_their_deadline_time_out() -> None:
    w = World()
    w.add("retrying", status=S.PENDING, retryCount=1, error="HTTP 503", startedAt=at(-31), maxWaitTime=30)
    # a claim long stale (its run died; no message came back): the sweep is the safety net
    w.add("processing", status=S.PROCESSING, claimToken="run-1", claimedAt=at(-400), startedAt=at(-400),
          maxWaitTime=45, timeout=30)
    w.add("waiting", status=S.WAITING, startedAt=at(-200), maxWaitTime=120)
    w.add("polling", status=S.POLLING, startedAt=at(-61), maxWaitTime=60.5)

    report = w.sweep()

    assert sorted(report.timed_out) == ["polling", "processing", "retrying", "waiting"]
    assert report.as_dict()["timedOut"] == 4
    expected_errors = {"retrying": "maxWaitTime of 30s exceeded", "processing": "maxWaitTime of 45s exceeded",
                       "waiting": "maxWaitTime of 120s exceeded", "polling": "maxWaitTime of 60.5s exceeded"}
    for task_id, error in expected_errors.items():
        task = w.stored(task_id)
        assert task.status is S.TIMEOUT
        assert task.error == error
        assert "maxWaitTime" in task.error
        assert task.completedAt == at(0) and task.updatedAt == at(0)
        assert task.claimToken is None
    assert w.queue.sent == []
    assert all(can_transition(a, b) for a, b in w.repo.moves)


def test_a_claimed_task_past_its_deadline_is_left_to_its_run() -> None:
    """Issue 11.4: a processing task whose claim is not yet stale may belong to a crashed run; its
    successor (crash credit) or the live run itself decides, not the sweep."""
    w = World()
    w.add("live", status=S.PROCESSING, claimToken="run-1", claimedAt=at(-5), startedAt=at(-45), maxWaitTime=45,
          timeout=30)
    w.add("crashed", status=S.PROCESSING, claimToken="run-2", claimedAt=at(-40), startedAt=at(-40),
          maxWaitTime=30, timeout=30)

    report = w.sweep()

    assert report.timed_out == []
    assert w.stored("live").status is S.PROCESSING and w.stored("crashed").status is S.PROCESSING


def test_tasks_within_their_deadline_or_not_started_are_left_alone() -> None:
    w = World()
    w.add("young", status=S.PROCESSING, claimToken="r", claimedAt=at(-1), startedAt=at(-29), maxWaitTime=30)
    w.add("new", status=S.PENDING, createdAt=at(-3600), maxWaitTime=30)
    w.add("delayed", status=S.DELAYED, delayUntil=at(3600), createdAt=at(-3600), maxWaitTime=30)
    w.add("done", status=S.COMPLETED, startedAt=at(-3600), completedAt=at(-3500), maxWaitTime=30)
    w.add("failed", status=S.FAILED, startedAt=at(-3600), completedAt=at(-3500), maxWaitTime=30)
    before = {t: w.stored(t) for t in ("young", "new", "delayed", "done", "failed")}

    assert w.sweep().timed_out == []
    assert {t: w.stored(t) for t in before} == before


def test_a_task_exactly_at_its_deadline_times_out() -> None:
    w = World()
    w.add(status=S.PENDING, retryCount=1, startedAt=at(-30), maxWaitTime=30)
    assert w.sweep().timed_out == [TASK_ID]


def test_a_task_finished_after_the_read_is_not_timed_out() -> None:
    repo, queue = FrozenReads(), InMemoryTaskQueue()
    repo.put_new(make_task(status=S.PROCESSING, claimToken="run-1", claimedAt=at(-5), startedAt=at(-40),
                           maxWaitTime=30))
    repo.started_past_deadline(at(0))
    current = repo.get(TASK_ID)
    assert current is not None
    repo.apply(current, Transition(S.COMPLETED, {"claimToken": None, "completedAt": at(0)},
                                   from_=frozenset({S.PROCESSING}), expect={"claimToken": "run-1"}))

    assert Scheduler(repo, queue, clock=lambda: NOW).sweep().timed_out == []
    task = repo.get(TASK_ID)
    assert task is not None and task.status is S.COMPLETED


# ---------------------------------------------------------------------------------------------
# dead letters


@pytest.mark.parametrize(
    "fields",
    [
        {"status": S.PENDING},
        {"status": S.PENDING, "retryCount": 2, "startedAt": at(-10)},
        {"status": S.PROCESSING, "claimToken": "run-1", "claimedAt": at(-10), "startedAt": at(-10)},
        {"status": S.DELAYED, "delayUntil": at(60)},
        {"status": S.WAITING, "startedAt": at(-10)},
        {"status": S.POLLING, "startedAt": at(-10)},
    ],
    ids=lambda f: f["status"].value + ("-claimed" if "claimToken" in f else "") + ("-retried" if "retryCount" in f
                                                                                   else ""),
)
def test_dead_letter_fails_an_unfinished_task(fields: dict[str, Any]) -> None:
    repo = RecordingRepository()
    repo.put_new(make_task(**fields))

    assert fail_dead_letter(repo, TASK_ID, clock=lambda: NOW) is True

    task = repo.get(TASK_ID)
    assert task is not None
    assert task.status is S.FAILED
    assert task.error is not None and "dead-letter" in task.error
    assert task.completedAt == at(0) and task.updatedAt == at(0)
    assert task.claimToken is None
    assert all(can_transition(a, b) for a, b in repo.moves)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_dead_letter_leaves_a_finished_task_alone(status: TaskStatus) -> None:
    repo = InMemoryTaskRepository()
    repo.put_new(make_task(status=status, completedAt=at(-5), error="earlier"))
    before = repo.get(TASK_ID)
    assert fail_dead_letter(repo, TASK_ID, clock=lambda: NOW) is False
    assert repo.get(TASK_ID) == before


def test_dead_letter_for_an_unknown_task_is_a_no_op() -> None:
    assert fail_dead_letter(InMemoryTaskRepository(), "no-such-task", clock=lambda: NOW) is False
