"""The minute sweep and the dead letters: far-delayed tasks sent with their exact remaining delay
when they come within the window, lost messages of delayed tasks repaired, tasks past
maxWaitTime timed out, and tasks whose message SQS gave up on failed. New tasks: outbox.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from taskhook.model import lifecycle
from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.model.dispatch import Dispatch, delay_until_due, sent_at_insert
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lanes import lane_for
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskQueue, TaskRepository

SWEEP_WINDOW = 75.0  # seconds ahead the minute sweep looks (one period and some slack)
REPAIR_GRACE = 60.0  # a delayed task this overdue is re-sent: its message was lost


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
    claim_margin: float = 30.0  # the executor's (settings.claim_margin)

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
        elif sent_at_insert(task) and not overdue:
            return
        try:  # mark first: two sweeps never both send, and a crash after the mark is repaired
            self.repository.apply(task, lifecycle.mark_dispatched(task, now))
        except (Conflict, NotFound):
            return
        self.queue.send(Dispatch(task.id, lane_for(task.priority), delay_until_due(task, now)))
        (report.repaired if overdue else report.dispatched).append(task.id)

    def _time_out(self, task: Task, report: SweepReport) -> None:
        if task.status in TERMINAL or task.status is TaskStatus.DELAYED:
            return
        if task.status is TaskStatus.PROCESSING and task.claimedAt and self._claim_may_come_back(task):
            return  # the run times itself out, or its successor takes over with the crash credit
        try:
            self.repository.apply(task, lifecycle.time_out(task, self.clock(), task.claimToken))
        except (Conflict, NotFound):
            return
        report.timed_out.append(task.id)


    def _claim_may_come_back(self, task: Task) -> bool:
        """A claim is left to its run until well after it went stale: the crashed run's message
        comes back when its hold ends (at the stale time) and a successor takes it over. Past
        that, the sweep is the safety net."""
        return self.clock() < lifecycle.stale_claim_at(task, self.claim_margin) + timedelta(seconds=self.grace)


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
