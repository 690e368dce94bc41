"""Which message a task needs on its lane, and when: the one rule the API (at create), the stream's
outbox (its repair path), the minute sweep and the restart's recovery all follow.

A task due now goes to its priority lane at once; one due within 15 minutes (SQS's longest
DelaySeconds) goes with that delay; one due later waits in the sparse `delayedDue` index for the
minute sweep (dispatch/sweep.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from taskhook.model.clock import parse_iso
from taskhook.model.lanes import Lane, lane_for
from taskhook.model.limits import SQS_MAX_DELAY
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task


@dataclass(frozen=True)
class Dispatch:
    task_id: str
    lane: Lane
    delay_seconds: int = 0
    # The row as the create writes it (the create's message only): the executor's first delivery
    # claims from it without reading the row (run/executor.py, CARRIED).
    row: Task | None = None


def delay_until_due(task: Task, now: datetime) -> int:
    if not task.delayUntil:
        return 0
    # Whole seconds, rounded down: an early message waits out the rest in the executor,
    # which is how the first call lands within a second of delayUntil.
    return max(0, min(SQS_MAX_DELAY, math.floor((parse_iso(task.delayUntil) - now).total_seconds())))


def dispatch_for_new_task(task: Task, now: datetime) -> Dispatch | None:
    """The message a newly created task gets, if any (None: the sweep sends it when it comes near)."""
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
