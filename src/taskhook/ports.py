"""The small interfaces the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from taskhook.intake.listing import ListQuery
from taskhook.model.lifecycle import Transition
from taskhook.model.task import Task


class TaskRepository(Protocol):
    def put_new(self, task: Task) -> None:
        """Store a task that must not exist yet (raises Conflict if it does)."""

    def get(self, task_id: str) -> Task | None: ...

    def apply(self, task: Task, transition: Transition) -> Task:
        """One conditional write of `transition` to `task`'s row (model/lifecycle.py): only if the
        stored status is one of `transition.sources`, each `expect`ed field holds its value (None:
        absent) and, when given, the version matches; the row's version goes up by one. Raises
        IllegalTransition (before writing) for a move the lifecycle forbids or an unknown field,
        Conflict when the condition fails, NotFound if the row is gone. Returns the stored task."""

    def list_for_team(self, team_id: str, query: ListQuery) -> tuple[list[Task], int]:
        """One page of a team's tasks and the total matching the query (an index query)."""

    def delayed_due_before(self, moment: str) -> list[Task]:
        """Delayed tasks whose delayUntil is at or before `moment` (the sparse delayed index)."""

    def started_past_deadline(self, moment: str) -> list[Task]:
        """Started, unfinished tasks whose maxWaitTime deadline is at or before `moment`."""

    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None:
        """One conditional write of a running function task's progress (and message, unless None):
        only while the task is `processing` under `claim_token` and its stored progress is not
        above `progress`. Raises Conflict otherwise (the claim was lost: timeout, takeover),
        NotFound if the row is gone. Not a status transition: the status stays `processing`."""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    team_id: str
    name: str
    created_at: str
    revoked_at: str | None = None
    kind: str = "api"  # "api": a Bearer key; "client": a client token (seed 003)


class DestinationPolicy(Protocol):
    def check_url(self, url: str, field: str = "targetUrl", strict_dns: bool = False) -> None:
        """Raise BlockedTarget unless `url` may be called: its scheme, and every address its host
        resolves to (adapters/http.py's OutboundPolicy; the same check guards each connection)."""


class ApiKeyRepository(Protocol):
    def put(self, key_hash: str, key: ApiKey) -> None: ...

    def find_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def revoke(self, key_id: str, revoked_at: str) -> ApiKey:
        """Mark the key revoked (raises NotFound for an unknown key id)."""

    def list_for_team(self, team_id: str) -> list[ApiKey]: ...


class Idempotency(Protocol):
    def run_once(
        self, scope: str, key: str, fingerprint: Any, action: Callable[[], str]
    ) -> tuple[str, bool]:
        """Run `action` once per (scope, key) and remember its result; a repeat returns
        (result, True); the same key with a different fingerprint raises Conflict."""
