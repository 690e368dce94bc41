"""Task statuses and the one table of legal transitions."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    DELAYED = "delayed"
    PROCESSING = "processing"
    WAITING = "waiting"
    POLLING = "polling"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})
CANCELLABLE = frozenset({TaskStatus.PENDING, TaskStatus.DELAYED, TaskStatus.WAITING, TaskStatus.POLLING})

_S = TaskStatus
# from-status -> the statuses it may move to. Terminal statuses move nowhere.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _S.PENDING: frozenset({_S.PROCESSING, _S.CANCELLED, _S.TIMEOUT, _S.FAILED}),
    # delayed -> processing: the executor claims a delayed task whose delayUntil has come;
    # -> failed: its message was dead-lettered.
    _S.DELAYED: frozenset({_S.DELAYED, _S.PENDING, _S.PROCESSING, _S.CANCELLED, _S.FAILED}),
    # processing -> pending is a retry; processing -> processing is a stale claim taken over.
    _S.PROCESSING: frozenset(
        {_S.PENDING, _S.PROCESSING, _S.WAITING, _S.POLLING, _S.COMPLETED, _S.FAILED, _S.TIMEOUT}
    ),
    _S.WAITING: frozenset({_S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELLED}),
    _S.POLLING: frozenset({_S.POLLING, _S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.TIMEOUT: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(current: TaskStatus, new: TaskStatus) -> bool:
    return new in TRANSITIONS[current]


def sources_of(new: TaskStatus) -> frozenset[TaskStatus]:
    """Every status from which `new` may be entered: the condition of a transition's write."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)
