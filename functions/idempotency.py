"""The `Idempotency-Key` header of the routes that create a task (v1 create and retry, seed 000's
`/tasks/create`, seed 003's starts): a repeat of a request under the same key gets the first
request's task (intake/tasks.py `TaskService.once`), so a client may retry a create whose answer it
never saw."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskhook.container import container
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_IDEMPOTENCY_KEY

if TYPE_CHECKING:
    from taskhook.model.task import Task


def idempotency_key_of(request: Any) -> str | None:
    value: str | None = request.headers.get("idempotency-key")
    if value is not None and not 0 < len(value) <= MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return value


def started_once(request: Any, lambda_context: Any, team_id: str, fingerprint: dict[str, Any],
                 make: Callable[[], Task]) -> tuple[Task, bool]:
    """The task `make` creates; under an Idempotency-Key, once per (team, key): a repeat with the same
    fingerprint gets the first one's task, another fingerprint is 409. Returns (task, created)."""
    key = idempotency_key_of(request)
    if key is None:
        return make(), True
    idempotency = container().idempotency
    idempotency.register_lambda_context(lambda_context)
    return container().task_service.once(team_id, key, fingerprint, make, idempotency)
