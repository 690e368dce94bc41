"""What the client raises: an API answer that is not 2xx becomes an `ApiError` (its status and the
API's own `error` message); a task still running at the end of a wait, `WaitTimeout`."""

from __future__ import annotations

from typing import Any


class TaskhookError(Exception):
    """Every error this package raises."""


class ConfigError(TaskhookError):
    """No URL or API key, or a profile that is not in the config file."""


class TransportError(TaskhookError):
    """The API could not be reached (connection refused, reset, timed out), after the retries."""


class ApiError(TaskhookError):
    """The API answered with an error: `status` is the HTTP status, `message` the `error` of its
    `{"error": …}` body (or the reason phrase when the body has none)."""

    def __init__(self, status: int, message: str, body: Any = None, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400: the request was refused as it is (a field, a parameter); nothing was stored."""


class Unauthorized(ApiError):
    """401: no API key, or one that is not valid (revoked)."""


class AccessDenied(ApiError):
    """403: another team's task, or a route the key's scope does not allow."""


class NotFound(ApiError):
    """404: no such task (or token, key, function)."""


class Conflict(ApiError):
    """409: the task is not in a state that allows it (a cancel of a completed task, ...)."""


class RateLimited(ApiError):
    """429 after the retries: the team's rate limit; `retry_after` says when to come back."""


class ServerError(ApiError):
    """5xx after the retries."""


_BY_STATUS: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 403: AccessDenied, 404: NotFound,
                                         409: Conflict, 429: RateLimited}


def api_error(status: int, message: str, body: Any = None, retry_after: float | None = None) -> ApiError:
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return kind(status, message, body, retry_after)


class WaitTimeout(TaskhookError):
    """The task had not ended when the wait's timeout passed; `task` is the last state seen."""

    def __init__(self, task: Any, timeout: float) -> None:
        super().__init__(f"task {task.get('id') or task.get('task_id') or '?'} still {task.get('status', '?')} "
                         f"after {timeout:g} s")
        self.task = task
        self.timeout = timeout


class NoOutput(TaskhookError):
    """download(): the task has no output file (yet)."""


class TaskFailed(TaskhookError):
    """Run.result(): the task ended otherwise than completed; `task` is its final state."""

    def __init__(self, task: Any) -> None:
        error = f": {task['error']}" if task.get("error") else ""
        super().__init__(f"task {task.get('id', '?')} ended {task.get('status', '?')}{error}")
        self.task = task
