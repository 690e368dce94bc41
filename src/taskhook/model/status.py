"""Task statuses (the exact strings of the API). The moves between them: lifecycle.py."""

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
