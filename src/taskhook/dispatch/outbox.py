"""The outbox: the API's only write is the task row, and the table's stream delivers every insert
here at least once (Lambda retries a failing batch until it succeeds), so no task is lost between
the table and the queue. A task due now goes to its priority lane; one due within 15 minutes (SQS's
longest DelaySeconds) goes with that delay; one due later waits in the sparse `delayedDue` index
for the minute sweep (sweep.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from taskhook.dispatch.lanes import Lane, lane_for
from taskhook.model.change import Change
from taskhook.model.clock import parse_iso, utcnow
from taskhook.model.limits import SQS_MAX_DELAY
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import DispatchQueue


@dataclass(frozen=True)
class Dispatch:
    task_id: str
    lane: Lane
    delay_seconds: int = 0


def delay_until_due(task: Task, now: datetime) -> int:
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
        if sent_at_insert(task):
            return Dispatch(task.id, lane_for(task.priority), delay_until_due(task, now))
    return None


def sent_at_insert(task: Task) -> bool:
    if not task.delayUntil:
        return True
    return (parse_iso(task.delayUntil) - parse_iso(task.createdAt)).total_seconds() <= SQS_MAX_DELAY


@dataclass
class TaskOutbox:
    """The stream consumer that sends a batch's new tasks to their lanes (ten to a call)."""

    queue: DispatchQueue
    clock: Callable[[], datetime] = utcnow

    def consume(self, changes: list[Change]) -> list[int]:
        now = self.clock()
        dispatched = [(i, d) for i, c in enumerate(changes) if c.inserted
                      for d in [dispatch_for_new_task(c.new, now)] if d is not None]
        return [dispatched[j][0] for j in self.queue.send_many([d for _, d in dispatched])]
