"""Creating, reading, listing, waiting on and cancelling tasks: the v1 API's domain."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskhook.intake.new_tasks import store_new
from taskhook.intake.retries import retry_of
from taskhook.intake.validation import CreateTaskRequest
from taskhook.model import lifecycle
from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.model.errors import AccessDenied, BlockedTarget, Conflict, NotFound, ValidationFailed
from taskhook.model.limits import MAX_LONG_POLL_SECONDS
from taskhook.model.listing import ListPage, ListQuery
from taskhook.model.status import CANCELLABLE, TERMINAL, TaskStatus
from taskhook.model.task import Task
from taskhook.model.tokens import references
from taskhook.model.urls import target_host
from taskhook.ports import DestinationPolicy, Idempotency, TaskCounts, TaskQueue, TaskRepository

CANCEL_ATTEMPTS = 5


def team_task(repository: TaskRepository, team_id: str, task_id: str) -> Task:
    """The task, if it belongs to the team: 404 when there is none, 403 when it is another team's."""
    task = repository.get(task_id)
    if task is None:
        raise NotFound()
    if task.teamId != team_id:
        raise AccessDenied()
    return task


@dataclass
class TaskService:
    repository: TaskRepository
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    outbound: DestinationPolicy | None = None
    # The Token Vault's check of `tok_…` header references (intake/vault.py): 400 `Unknown token …`.
    check_tokens: Callable[[str, dict[str, str], str | None], None] | None = None  # with the target's host
    # `pagination.total` (ports.TaskCounts): required by list(), unused by everything else.
    counts: TaskCounts | None = None
    # A new task's lane message is sent before its row is written (intake/new_tasks.py); None: the
    # row only, and the table's stream sends the message.
    queue: TaskQueue | None = None

    def _store(self, task: Task) -> Task:
        return store_new(self.repository, self.queue, task, self.clock())

    def _check_targets(self, request: CreateTaskRequest | Task) -> None:
        if self.outbound is None:
            return
        for name in ("targetUrl", "onCompleteUrl", *(("callbackUrl",) if isinstance(request, Task) else ())):
            url = getattr(request, name)
            if url is None:
                continue
            try:
                self.outbound.check_url(url, field=name)
            except BlockedTarget as exc:
                raise ValidationFailed(str(exc)) from None

    def _check_tokens(self, team_id: str, headers: dict[str, str], target_url: str | None) -> None:
        """The `tok_` references a task names, with the host they would go to; a task that names
        none (almost every create) reads no vault and parses no URL again."""
        if self.check_tokens is not None and references(headers):
            self.check_tokens(team_id, headers, target_host(target_url))

    def new_task(self, team_id: str, request: CreateTaskRequest) -> Task:
        """The task a create request describes, not yet stored."""
        self._check_targets(request)
        self._check_tokens(team_id, request.headers, request.targetUrl)
        now = self.clock()
        delayed = request.delayUntil is not None and parse_iso(request.delayUntil) > now
        spec = request.model_dump(exclude_none=True)
        return Task(
            id=self.new_id(),
            teamId=team_id,
            status=TaskStatus.DELAYED if delayed else TaskStatus.PENDING,
            retryCount=0,
            createdAt=iso(now),
            updatedAt=iso(now),
            **spec,
        )

    def create(self, team_id: str, request: CreateTaskRequest) -> Task:
        return self._store(self.new_task(team_id, request))

    def create_idempotent(
        self, team_id: str, key: str, request: CreateTaskRequest, idempotency: Idempotency
    ) -> tuple[Task, bool]:
        """Create once per (team, Idempotency-Key); returns (task, created)."""
        return self.once(team_id, key, request.model_dump(mode="json"), lambda: self.create(team_id, request),
                          idempotency)

    def once(self, team_id: str, key: str, fingerprint: dict[str, Any], make: Callable[[], Task],
              idempotency: Idempotency) -> tuple[Task, bool]:
        """The task `make` creates, once per (team, Idempotency-Key): a repeat of the same request
        replays the first one's task; returns (task, created)."""
        task_id, replayed = idempotency.run_once(team_id, key, fingerprint, lambda: make().id)
        return self.get(team_id, task_id), not replayed

    def get(self, team_id: str, task_id: str, client_id: str | None = None) -> Task:
        """The team's task; for a client token (`client_id`), only a task of that client: another
        client's is 404, as if there were none."""
        if client_id is None:
            return team_task(self.repository, team_id, task_id)
        task = self.repository.get(task_id)
        if task is None or task.teamId != team_id or task.clientId != client_id:
            raise NotFound()  # another team's too: a client token learns of its own tasks only
        return task

    def retry(self, team_id: str, task_id: str) -> Task:
        """A failed or timeout task again, as a new task (intake/retries.py); its destinations and
        `tok_` references are checked again, as at create (they may have been blocked or deleted since)."""
        task = retry_of(self.get(team_id, task_id), self.new_id(), self.clock())
        self._check_targets(task)
        self._check_tokens(team_id, task.headers, task.targetUrl)
        return self._store(task)

    def retry_idempotent(self, team_id: str, key: str, task_id: str, idempotency: Idempotency) -> tuple[Task, bool]:
        """Retry once per (team, Idempotency-Key); returns (task, created)."""
        return self.once(team_id, key, {"retryOf": task_id}, lambda: self.retry(team_id, task_id), idempotency)

    def wait_for_change(self, team_id: str, task_id: str, wait_seconds: float, interval: float,
                        client_id: str | None = None) -> Task:
        """Long poll: the task as soon as its status differs from the one seen at the start,
        or as it is after `wait_seconds`. A terminal task returns at once."""
        task = self.get(team_id, task_id, client_id)
        if wait_seconds <= 0 or task.status in TERMINAL:
            return task
        start_status = task.status
        deadline = self.monotonic() + min(wait_seconds, MAX_LONG_POLL_SECONDS)
        while True:
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                return task
            self.sleep(min(interval, remaining))
            task = self.get(team_id, task_id, client_id)
            if task.status != start_status:
                return task

    def list(self, team_id: str, query: ListQuery) -> tuple[ListPage, int | None]:
        """One page of the team's tasks (the repository reads the page, never every match) and
        the total matching the query's status (the counts); None (unknown) under a filter the
        counts do not count. `q` (an id) is one GetItem: that task if it is the team's and matches."""
        if self.counts is None:
            raise TypeError("TaskService.counts is not set: list() needs ports.TaskCounts")
        if query.task_id is not None:
            task = self.repository.get(query.task_id)
            found = (task is not None and task.teamId == team_id and query.filters.matches(task)
                     and (query.status is None or task.status is query.status) and query.offset == 0
                     and query.after is None)
            return ListPage([task] if found and task is not None else [], has_more=False), int(found)
        page = self.repository.list_for_team(team_id, query)
        return page, None if query.filters.active else self.counts.total(team_id, query.status)

    def cancel(self, team_id: str, task_id: str) -> Task:
        task = self.get(team_id, task_id)
        for _ in range(CANCEL_ATTEMPTS):
            if task.status not in CANCELLABLE:
                break
            try:
                return self.repository.apply(task, lifecycle.cancel(self.clock()))
            except Conflict:
                # The task moved between our read and our write (a worker claimed it, or put it
                # back to pending for a retry): decide again on what it is now.
                task = self.get(team_id, task_id)
        raise Conflict(f"Task cannot be cancelled: status is {task.status.value}")
