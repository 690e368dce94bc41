"""Re-enqueueing after the local stack restarts with restored tables: the lanes' messages lived in
the old emulator's memory, and for a task waiting out a short delay or a backoff its message was
the only record of when to run it. Every unfinished task gets its message again, the way it got
it the first time (outbox.py for a new task, the sweep's remaining delay for a delayed one); a
`processing` claim belongs to a run that no longer exists, so it is released first (back to
`pending`, no retry used, the time it held the task given back as for a crashed run's claim).
A far-delayed task the sweep has not sent yet stays in the sparse `delayedDue` index for the
sweep (sweep.py). A duplicate message is harmless (the claim is conditional; an early one waits
out its delay in the executor) and there is none here: the queues start empty.

The tasks come from `TaskRepository.unfinished()` (a Scan: the restart's only, never a request's);
a `polling` task gets a plain message (the executor sends its poll chain again, with the poll token
the row holds); a `waiting` one gets none (its callback moves it on)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from taskhook.model import lifecycle
from taskhook.model.clock import parse_iso, utcnow
from taskhook.model.dispatch import Dispatch, delay_until_due, dispatch_for_new_task
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lanes import lane_for
from taskhook.model.limits import SQS_MAX_DELAY
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import DispatchQueue, TaskRepository

RECOVERABLE = frozenset({TaskStatus.PENDING, TaskStatus.DELAYED, TaskStatus.PROCESSING, TaskStatus.POLLING})


@dataclass
class RecoveryReport:
    released: list[str] = field(default_factory=list)  # processing claims given back
    dispatched: list[str] = field(default_factory=list)
    left_to_sweep: list[str] = field(default_factory=list)  # far-delayed, not sent yet
    not_sent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"released": len(self.released), "dispatched": len(self.dispatched),
                "leftToSweep": len(self.left_to_sweep), "notSent": len(self.not_sent)}


def redispatch(task: Task, now: datetime) -> Dispatch | None:
    """The message an unfinished task needs after its queue was lost; None: the sweep sends it."""
    if task.status is TaskStatus.PENDING:
        wait = (parse_iso(task.retryAt) - now).total_seconds() if task.retryAt else 0.0
        return Dispatch(task.id, lane_for(task.priority), max(0, min(SQS_MAX_DELAY, math.floor(wait))))
    if task.status is TaskStatus.DELAYED:
        if task.dispatchedAt:  # the sweep had sent it: its message is the one that was lost
            return Dispatch(task.id, lane_for(task.priority), delay_until_due(task, now))
        return dispatch_for_new_task(task, now)
    if task.status is TaskStatus.POLLING:  # its next poll's message was lost with the queue
        return Dispatch(task.id, lane_for(task.priority), 0)
    return None


@dataclass
class Recovery:
    repository: TaskRepository
    queue: DispatchQueue
    clock: Callable[[], datetime] = utcnow

    def recover(self, tasks: Iterable[Task]) -> RecoveryReport:
        report = RecoveryReport()
        now = self.clock()
        dispatches: list[Dispatch] = []
        for task in tasks:
            if task.status is TaskStatus.PROCESSING and task.claimToken:
                try:
                    # As when a run takes over a crashed one's claim: the time it held the task is given back.
                    credit = lifecycle.TaskChanges(waitCredit=lifecycle.crash_credit(task, now))
                    release = lifecycle.requeue(task, task.claimToken, now, task.error, credit, "crashed")
                    task = self.repository.apply(task, release)
                except (Conflict, NotFound):
                    continue
                report.released.append(task.id)
            dispatch = redispatch(task, now) if task.status in RECOVERABLE else None
            if dispatch is None:
                if task.status is TaskStatus.DELAYED:
                    report.left_to_sweep.append(task.id)
                continue
            dispatches.append(dispatch)
        failed = set(self.queue.send_many(dispatches))
        for index, dispatch in enumerate(dispatches):
            (report.not_sent if index in failed else report.dispatched).append(dispatch.task_id)
        return report
