"""Starting and reading function tasks (seeds 000 and 003): the same table, lifecycle, lanes and
executor as HTTP tasks, with `kind: "function"`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from taskhook.intake.new_tasks import store_new
from taskhook.intake.tasks import team_task
from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import BlockedTarget, NotFound, ValidationFailed
from taskhook.model.json_depth import nested_deeper_than
from taskhook.model.limits import MAX_JSON_DEPTH
from taskhook.model.status import TaskStatus
from taskhook.model.task import FUNCTION_KIND, Task
from taskhook.model.urls import OUTBOUND_URL, is_http_url
from taskhook.ports import DestinationPolicy, TaskQueue, TaskRepository
from taskhook.run.functions.registry import Registry, TaskDefinition


class NamedTaskRequest(BaseModel):
    """Seed 000's `POST /tasks/create` body."""

    model_config = ConfigDict(extra="forbid")

    task_name: str = Field(min_length=1, max_length=200,
                           description="`namespace.name`, or a name that only one namespace uses")
    task_data: Any = Field(default=None, description="The task's arguments (a JSON object)")
    callback_url: str | None = Field(default=None, description="Called on every status change (stored; see issue 6)")

    @field_validator("task_name", mode="before")
    @classmethod
    def _name_is_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value

    @field_validator("callback_url", mode="before")
    @classmethod
    def _callback_is_url(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not is_http_url(value)):
            raise ValueError("not an http(s) URL")
        return value


_NAMED_MESSAGES = {
    "task_name": "task_name must be a non-empty string",
    "callback_url": "callback_url must be a valid HTTP/HTTPS URL",
}


def parse_named_task_request(data: dict[str, Any]) -> NamedTaskRequest:
    try:
        request = NamedTaskRequest.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        first = errors[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        if first.get("type") == "extra_forbidden":
            raise ValidationFailed(f"Unknown field: {field}") from None
        if first.get("type") == "missing":
            raise ValidationFailed(f"{field} is required") from None
        raise ValidationFailed(_NAMED_MESSAGES.get(field, f"{field} is invalid")) from None
    if nested_deeper_than(request.task_data):  # before anything serialises it (the idempotency record)
        raise ValidationFailed(f"Invalid arguments for {request.task_name}: nested deeper than {MAX_JSON_DEPTH} levels")
    return request


@dataclass
class FunctionTaskService:
    repository: TaskRepository
    registry: Registry
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    outbound: DestinationPolicy | None = None
    queue: TaskQueue | None = None  # the lane message sent at create (intake/new_tasks.py)

    def start(self, team_id: str, namespace: str, name: str, arguments: dict[str, Any],
              callback_url: str | None = None, client_id: str | None = None) -> Task:
        """Seed 003: validate the arguments of `namespace.name` and store a pending task, sent
        to its lane like any task (intake/new_tasks.py)."""
        return self._start(team_id, self.registry.get(namespace, name), arguments, callback_url, client_id)

    def start_named(self, team_id: str, request: NamedTaskRequest) -> Task:
        """Seed 000: `task_name` names the function, `task_data` holds its arguments."""
        definition = self.registry.find(request.task_name)
        data = request.task_data
        if data is None:
            arguments: dict[str, Any] = {}
        elif isinstance(data, dict):
            arguments = data
        elif "task_data" in definition.binding.model.model_fields or definition.binding.accepts_extra:
            # seed 000's free-form task_data, as one argument named task_data (task1(**kwargs) gets it)
            arguments = {"task_data": data}
        else:
            raise ValidationFailed(f"task_data must be a JSON object of the arguments of {definition.qualified_name}")
        return self._start(team_id, definition, arguments, request.callback_url, None)

    def _start(self, team_id: str, definition: TaskDefinition, arguments: dict[str, Any],
               callback_url: str | None, client_id: str | None) -> Task:
        args = definition.stored_args(arguments)
        self._check_destinations(definition, args, callback_url)
        now = iso(self.clock())
        task = Task(
            id=self.new_id(), teamId=team_id, kind=FUNCTION_KIND, status=TaskStatus.PENDING,
            namespace=definition.namespace, name=definition.name, args=args, progress=0,
            maxWaitTime=definition.max_wait_time, timeout=definition.timeout, maxRetries=definition.max_retries,
            retryBackoff=definition.retry_backoff, priority=definition.priority, retryCount=0,
            callbackUrl=callback_url, clientId=client_id, createdAt=now, updatedAt=now,
        )
        return store_new(self.repository, self.queue, task, self.clock())

    def _check_destinations(self, definition: TaskDefinition, args: dict[str, Any], callback_url: str | None) -> None:
        """The outbound guard at create time: callback_url, and every argument the function
        declares as a URL it calls (`Annotated[str, OUTBOUND_URL]`, e.g. fetch_url's `url`)."""
        if self.outbound is None:
            return
        if callback_url is not None:
            try:
                self.outbound.check_url(callback_url, field="callback_url")
            except BlockedTarget as exc:
                raise ValidationFailed(str(exc)) from None
        for name, info in definition.binding.model.model_fields.items():
            value = args.get(info.alias or name)
            if isinstance(value, str) and any(meta is OUTBOUND_URL for meta in info.metadata):
                try:
                    self.outbound.check_url(value, field=name)
                except BlockedTarget as exc:
                    raise ValidationFailed(f"Invalid arguments for {definition.qualified_name}: {exc}") from None

    def catalogue(self) -> list[dict[str, Any]]:
        """GET /v1/functions: every registered function task, what it is called and what it takes."""
        return [{"namespace": d.namespace, "name": d.name, "displayName": d.display_name,
                 "description": d.description, "argsSchema": d.binding.public_schema()}
                for d in self.registry.definitions()]

    def get(self, team_id: str, task_id: str) -> Task:
        """Any task of the team (seed 000's `GET /tasks/{task_id}`); another team's is 403."""
        return team_task(self.repository, team_id, task_id)

    def get_in_namespace(self, team_id: str, namespace: str, task_id: str) -> Task:
        """Seed 003's result route: the team's function task, found only under its own namespace."""
        task = self.get(team_id, task_id)
        if task.kind != FUNCTION_KIND or task.namespace != namespace:
            raise NotFound()
        return task
