"""Retrying a failed or timed-out task (`POST /v1/tasks/{id}/retry`): a new task with the same
request, `retryOf` pointing at the original, which stays as it ended (terminal statuses move
nowhere, model/lifecycle.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from taskhook.model.clock import iso
from taskhook.model.errors import Conflict
from taskhook.model.headers import without_framing
from taskhook.model.status import TaskStatus
from taskhook.model.task import FUNCTION_KIND, Task

RETRYABLE = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT})
NOT_RETRYABLE = "Only failed or timeout tasks can be retried"
# What a client asked for (HTTP, provider and function tasks alike), and who it is for; the
# delayUntil is not among them: a retry runs now.
REQUEST_FIELDS = (
    "kind", "namespace", "name", "args", "targetUrl", "method", "headers", "body", "maxWaitTime", "timeout",
    "maxRetries", "retryBackoff", "priority", "onCompleteUrl", "provider", "pollConfig", "waitForCallback",
    "callbackUrl", "clientId",
)


def retry_of(original: Task, new_id: str, now: datetime) -> Task:
    """The new task retrying `original`: pending, its attempts and outcome fresh; Conflict (409) unless
    the original failed or timed out."""
    if original.status not in RETRYABLE:
        raise Conflict(NOT_RETRYABLE)
    request: dict[str, Any] = {name: getattr(original, name) for name in REQUEST_FIELDS}
    request["headers"] = without_framing(original.headers)  # refused at create since; an old task may hold them
    if original.kind == FUNCTION_KIND:
        request["progress"] = 0
    stamp = iso(now)
    return Task(id=new_id, teamId=original.teamId, status=TaskStatus.PENDING, retryCount=0, retryOf=original.id,
                createdAt=stamp, updatedAt=stamp, **request)
