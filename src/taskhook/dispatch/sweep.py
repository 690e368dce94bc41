"""Getting tasks onto the queues: from the table's stream (new tasks), from the minute sweep
(far-delayed tasks, repairs) and out of it (maxWaitTime timeouts, dead letters).

Why the stream: the API's only write is the task row, and the stream delivers every insert to the
dispatcher at least once (Lambda retries a failing batch until it succeeds), so no task is lost
between the table and the queue. Tasks due more than 15 minutes ahead (SQS's longest
DelaySeconds) wait in the sparse `delayedDue` index until the minute sweep sends them with the
exact remaining delay.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from taskhook.dispatch.lanes import Lane, lane_for
from taskhook.model import lifecycle
from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskRepository

SQS_MAX_DELAY = 900
SWEEP_WINDOW = 75.0  # seconds ahead the minute sweep looks (one period and some slack)
REPAIR_GRACE = 60.0  # a delayed task this overdue is re-sent: its message was lost


@dataclass(frozen=True)
class Dispatch:
    task_id: str
    lane: Lane
    delay_seconds: int = 0


class TaskQueue(Protocol):
    def send(self, dispatch: Dispatch) -> None: ...


def _delay_until_due(task: Task, now: datetime) -> int:
    if not task.delayUntil:
        return 0
    # Whole seconds, rounded down: an early message waits out the rest in the executor,
    # which is how the first call lands within a second of delayUntil.
    return max(0, min(SQS_MAX_DELAY, math.floor((parse_iso(task.delayUntil) - now).total_seconds())))


def dispatch_for_new_task(task: Task, now: datetime) -> Dispatch | None:
    """What the stream dispatcher sends for a newly inserted task, if anything."""
    if task.status is TaskStatus.PENDING:
        return Dispatch(task.id, lane_for(task.priority))
    if task.status is TaskStatus.DELAYED and task.delayUntil:
        if _sent_at_insert(task):
            return Dispatch(task.id, lane_for(task.priority), _delay_until_due(task, now))
    return None


def _sent_at_insert(task: Task) -> bool:
    if not task.delayUntil:
        return True
    return (parse_iso(task.delayUntil) - parse_iso(task.createdAt)).total_seconds() <= SQS_MAX_DELAY


@dataclass
class SweepReport:
    dispatched: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"dispatched": len(self.dispatched), "repaired": len(self.repaired), "timedOut": len(self.timed_out)}


@dataclass
class Scheduler:
    repository: TaskRepository
    queue: TaskQueue
    clock: Callable[[], datetime] = utcnow
    window: float = SWEEP_WINDOW
    grace: float = REPAIR_GRACE

    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self.clock()
        for task in self.repository.delayed_due_before(iso(now + timedelta(seconds=self.window))):
            self._dispatch_delayed(task, now, report)
        for task in self.repository.started_past_deadline(iso(now)):
            self._time_out(task, report)
        return report

    def _dispatch_delayed(self, task: Task, now: datetime, report: SweepReport) -> None:
        assert task.delayUntil is not None
        overdue = (now - parse_iso(task.delayUntil)).total_seconds() > self.grace
        if task.dispatchedAt:
            stuck = (now - parse_iso(task.dispatchedAt)).total_seconds() > self.grace
            if not (overdue and stuck):
                return
        elif _sent_at_insert(task) and not overdue:
            return
        try:  # mark first: two sweeps never both send, and a crash after the mark is repaired
            self.repository.apply(task, lifecycle.mark_dispatched(task, now))
        except (Conflict, NotFound):
            return
        self.queue.send(Dispatch(task.id, lane_for(task.priority), _delay_until_due(task, now)))
        (report.repaired if overdue else report.dispatched).append(task.id)

    def _time_out(self, task: Task, report: SweepReport) -> None:
        if task.status in TERMINAL or task.status is TaskStatus.DELAYED:
            return
        try:
            self.repository.apply(task, lifecycle.time_out(task, self.clock(), task.claimToken))
        except (Conflict, NotFound):
            return
        report.timed_out.append(task.id)


def fail_dead_letter(repository: TaskRepository, task_id: str, clock: Callable[[], datetime] = utcnow) -> bool:
    """A message SQS gave up on (maxReceiveCount): its task fails, whatever unfinished state it is in."""
    task = repository.get(task_id)
    if task is None or task.status in TERMINAL:
        return False
    try:
        repository.apply(task, lifecycle.dead_letter(task, clock()))
    except (Conflict, NotFound):
        return False
    return True
