"""Finishing a `waiting` task: by its one-time callback URL (no API key) or by the team's API key
(`POST /v1/tasks/{id}/complete`). Both take the same body: `{"status": "completed"|"failed",
"result": any, "error": string}`; both are one conditional write from `waiting` (model/lifecycle.py
`complete_waiting`), so a second completion, or one racing a cancel or the timeout, is a 409."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskhook.intake.tasks import team_task
from taskhook.model import callbacks, lifecycle
from taskhook.model.clock import utcnow
from taskhook.model.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from taskhook.model.json_depth import nested_deeper_than
from taskhook.model.limits import INLINE_RESULT_LIMIT, MAX_ERROR_LENGTH, MAX_JSON_DEPTH
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import HTTP_KIND, Task
from taskhook.ports import TaskRepository

CALLBACK_NOT_FOUND = "Callback not found"
CALLBACK_USED = "Callback already used or task no longer waiting: status is {status}"
NOT_WAITING = "Task is not waiting for a callback: status is {status}"
NOT_WAITING_YET = "Task is not waiting for a callback yet: status is {status}; retry shortly"
DEFAULT_FAILURE = "reported failed by its callback"


class CompleteTaskRequest(BaseModel):
    """The body of a callback and of `POST /v1/tasks/{id}/complete` (the OpenAPI schema too)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: Literal["completed", "failed"] = Field(description="How the work ended")
    result: Any = Field(default=None, description=f"Any JSON, the task's result (at most "
                                                  f"{INLINE_RESULT_LIMIT // 1024} KB, 413 beyond; nested "
                                                  f"at most {MAX_JSON_DEPTH} levels, 400 beyond)")
    error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH,
                              description=f"Why it failed (at most {MAX_ERROR_LENGTH} characters); "
                                          f"a failed task without one gets \"{DEFAULT_FAILURE}\"")


_MESSAGES = {
    "status": "status must be one of: completed, failed",
    "error": f"error must be a string of at most {MAX_ERROR_LENGTH} characters",
}


@dataclass(frozen=True)
class Completion:
    status: TaskStatus
    result: Any = None
    error: str | None = None


def parse_completion(data: dict[str, Any]) -> Completion:
    """The body of a callback or of `POST /v1/tasks/{id}/complete`; 400 (413 for a large result)."""
    try:
        request = CompleteTaskRequest.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        loc = ".".join(str(part) for part in errors[0].get("loc", ()))
        if errors[0].get("type") == "extra_forbidden":
            raise ValidationFailed(f"Unknown field: {loc}") from None
        if errors[0].get("type") == "missing":
            raise ValidationFailed(f"{loc} is required") from None
        raise ValidationFailed(_MESSAGES.get(loc, f"{loc} is invalid")) from None
    if nested_deeper_than(request.result):  # stored, it could not be read back: every read a 500
        raise ValidationFailed(f"result is nested deeper than {MAX_JSON_DEPTH} levels")
    if len(json.dumps(request.result, separators=(",", ":")).encode("utf-8")) > INLINE_RESULT_LIMIT:
        raise PayloadTooLarge(f"result exceeds {INLINE_RESULT_LIMIT // 1024} KB")
    status = TaskStatus(request.status)
    if status is TaskStatus.FAILED:
        return Completion(status, request.result, request.error or DEFAULT_FAILURE)
    return Completion(status, request.result, request.error)


# What the callback URL's answer shows of the task: its outcome, not the team's request (headers,
# body, onCompleteUrl…), which whoever holds the URL has no need to see.
CALLBACK_VIEW = ("id", "teamId", "status", "waitForCallback", "result", "error", "createdAt", "startedAt",
                 "completedAt", "updatedAt")


def callback_view(task: Task) -> dict[str, Any]:
    return {k: v for k, v in task.public().items() if k in CALLBACK_VIEW}


@dataclass
class CallbackService:
    repository: TaskRepository
    clock: Callable[[], datetime] = utcnow

    def complete_by_token(self, task_id: str, secret: str, completion: Completion) -> Task:
        """The target's callback. An unknown task, a malformed path and a wrong secret get the same
        404 (nothing says whether a task exists). The right secret of a task that is not waiting
        (the URL used already, the task timed out or was cancelled, or its 2xx answer not recorded
        yet) is a 409 that says its status."""
        if not callbacks.well_formed(task_id, secret):
            raise NotFound(CALLBACK_NOT_FOUND)
        task = self.repository.get(task_id)
        stored = task.callbackHash if task is not None and task.kind == HTTP_KIND else None
        if task is None or not callbacks.matches(stored, secret):
            raise NotFound(CALLBACK_NOT_FOUND)
        if task.status is not TaskStatus.WAITING:
            if task.status in TERMINAL:
                raise Conflict(CALLBACK_USED.format(status=task.status.value))
            raise Conflict(NOT_WAITING_YET.format(status=task.status.value))
        return self._complete(task, completion, CALLBACK_USED)

    def complete_by_key(self, team_id: str, task_id: str, completion: Completion) -> Task:
        """The team's own systems finish a waiting task with their API key (403/404 as for cancel)."""
        task = team_task(self.repository, team_id, task_id)
        if task.status is not TaskStatus.WAITING:
            raise Conflict(NOT_WAITING.format(status=task.status.value))
        return self._complete(task, completion, NOT_WAITING)

    def _complete(self, task: Task, completion: Completion, conflict: str) -> Task:
        transition = lifecycle.complete_waiting(completion.status, self.clock(), completion.result, completion.error)
        try:
            return self.repository.apply(task, transition)
        except Conflict:
            current = self.repository.get(task.id)
            status = current.status.value if current is not None else "gone"
            raise Conflict(conflict.format(status=status)) from None
