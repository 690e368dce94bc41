"""The task record: one row per task, the same document on the wire, in the table and in the stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from .clock import iso, parse_iso
from .statuses import TERMINAL, TaskStatus

# The order in which fields appear in API responses (seed 002's examples).
PUBLIC_FIELDS = (
    "id", "teamId", "kind", "status", "targetUrl", "method", "headers", "body", "maxWaitTime",
    "timeout", "delayUntil", "maxRetries", "retryCount", "retryBackoff", "priority",
    "onCompleteUrl", "provider", "pollConfig", "result", "error", "createdAt", "startedAt",
    "completedAt", "updatedAt",
)


class Task(BaseModel):
    """A task. Field names are camelCase because they are the API's and the table's names."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    id: str
    teamId: str
    kind: str = "http"
    status: TaskStatus
    targetUrl: str | None = None
    method: str = "POST"
    headers: dict[str, str] = {}
    body: str | None = None
    maxWaitTime: float = 30
    timeout: float = 30
    delayUntil: str | None = None
    maxRetries: int = 3
    retryCount: int = 0
    retryBackoff: str = "exponential"
    priority: int = 5
    onCompleteUrl: str | None = None
    provider: str | None = None
    pollConfig: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    createdAt: str
    startedAt: str | None = None
    completedAt: str | None = None
    updatedAt: str | None = None
    # Bookkeeping, never shown to clients: the executor's current claim and the scheduler's
    # dispatch mark (see execution.py and scheduling.py).
    claimToken: str | None = None
    claimedAt: str | None = None
    dispatchedAt: str | None = None

    def public(self) -> dict[str, Any]:
        """The task as clients see it: no empty fields, numbers as JSON numbers."""
        data = self.model_dump(mode="json")
        out: dict[str, Any] = {}
        for name in PUBLIC_FIELDS:
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            out[name] = value
        return out


def deadline_of(task: Task) -> str | None:
    """When a started, unfinished task times out (startedAt + maxWaitTime), else None."""
    if task.startedAt is None or task.status in TERMINAL or task.status is TaskStatus.DELAYED:
        return None
    return iso(parse_iso(task.startedAt) + timedelta(seconds=task.maxWaitTime))
