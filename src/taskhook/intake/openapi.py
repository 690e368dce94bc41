"""The OpenAPI 3.1 document, with every schema generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskhook.intake.function_tasks import NamedTaskRequest
from taskhook.intake.validation import CreateTaskRequest
from taskhook.model.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_BODY_BYTES,
    MAX_DELAY_DAYS,
    MAX_IDEMPOTENCY_KEY,
    MAX_LONG_POLL_SECONDS,
    MAX_PAGE_SIZE,
    MAX_RETRIES_LIMIT,
    MAX_URL_LENGTH,
    MAX_WAIT_TIME_LIMIT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    TIMEOUT_LIMIT,
)
from taskhook.model.status import TaskStatus
from taskhook.model.task import PUBLIC_FIELDS, Task
from taskhook.run.functions.arguments import model_name
from taskhook.run.functions.registry import Registry, TaskDefinition

REF = "#/components/schemas/"


class TaskEnvelope(BaseModel):
    task: Task


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    hasMore: bool


class TaskList(BaseModel):
    tasks: list[Task]
    pagination: Pagination


class Error(BaseModel):
    error: str


class NamedTaskCreated(BaseModel):
    """seed 000: `POST /tasks/create`."""

    task_id: str
    status: TaskStatus


class NamedTaskDetails(BaseModel):
    """seed 000: `GET /tasks/{task_id}`. `download_url` is a presigned S3 URL of the output."""

    task_id: str
    task_name: str | None
    kind: str
    status: TaskStatus
    progress: int | None
    message: str | None
    result: Any
    error: str | None
    download_url: str | None
    callback_url: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    updated_at: str | None


class TaskStarted(BaseModel):
    """seed 003: `POST /api/{namespace}/task/start/{task_name}`."""

    task_id: str


class TaskResult(BaseModel):
    """seed 003: `GET /api/{namespace}/task/result/{task_id}`."""

    task_id: str
    status: TaskStatus
    progress: int = Field(ge=0, le=100)
    result: Any
    timestamp: str
    message: str | None = None
    error: str | None = None
    download_url: str | None = None


class SigningSecret(BaseModel):
    """A `whsec_` secret that signs the team's webhook deliveries; `expiresAt` once rotated out."""

    secret: str
    createdAt: str
    expiresAt: str | None = None


class SigningSecrets(BaseModel):
    """`GET /v1/webhooks/secret` and its rotation: every secret that currently signs, newest first."""

    secrets: list[SigningSecret]


MODELS: tuple[type[BaseModel], ...] = (
    CreateTaskRequest, TaskEnvelope, TaskList, Error, NamedTaskRequest, NamedTaskCreated, NamedTaskDetails,
    TaskStarted, TaskResult, SigningSecrets,
)

# What the validators of CreateTaskRequest and NamedTaskRequest enforce (intake/validation.py,
# model/urls.py) and pydantic cannot read from their `mode="before"` checks: the schema states
# the same ranges, from model/limits.py.
_HOST_PART = r"[^\s\\/@%?#\u0000-\u001f\u007f]+"  # no user info, no percent-encoding, no backslash
_REST = r"(?:[/?#][^\s\\\u0000-\u001f\u007f]*)?"
URL_SCHEMA: dict[str, Any] = {
    "type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL_LENGTH,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://" + _HOST_PART + _REST + "$",
    "description": "An http(s) URL with a host name or a dotted-quad IPv4 address; no user info, no "
                   "white space, backslash or control character.",
}
HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_CREATE_FIELDS: dict[str, dict[str, Any]] = {
    "targetUrl": URL_SCHEMA,
    "onCompleteUrl": {"anyOf": [URL_SCHEMA, {"type": "null"}]},
    "headers": {"type": "object", "propertyNames": {"pattern": HEADER_NAME},
                "additionalProperties": {"type": "string", "pattern": r"^[^\r\n\u0000]*$"}},
    "maxWaitTime": {"type": "number", "minimum": 1, "maximum": MAX_WAIT_TIME_LIMIT},
    "timeout": {"type": "number", "minimum": 1, "maximum": TIMEOUT_LIMIT},
    "maxRetries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
    "priority": {"type": "integer", "minimum": PRIORITY_MIN, "maximum": PRIORITY_MAX},
    "delayUntil": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                   "description": f"ISO 8601; at most {MAX_DELAY_DAYS} days in the future (400 beyond). "
                                 "Without an offset, UTC."},
}
_NAMED_FIELDS: dict[str, dict[str, Any]] = {"callback_url": {"anyOf": [URL_SCHEMA, {"type": "null"}]}}


_NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "description": "One notification of the task (callback_url or onCompleteUrl) and its delivery.",
    "properties": {
        "url": {"type": "string"}, "kind": {"type": "string"}, "status": {"type": "string"},
        "taskStatus": {"type": "string"}, "sequence": {"type": "string"},
        "attempts": {"type": "integer", "minimum": 0}, "lastError": {"type": "string"},
    },
    "required": ["attempts"],
}
_OUTPUT: dict[str, Any] = {
    "type": "object",
    "description": "A function task's output file; downloadUrl is a presigned link.",
    "properties": {"filename": {"type": "string"}, "contentType": {"type": "string"},
                   "size": {"type": "integer", "minimum": 0}, "downloadUrl": {"type": "string"}},
}


def _public_task(schema: dict[str, Any]) -> None:
    """The task as `Task.public()` shows it, not as it is stored: only the public fields (an empty
    one is left out), the output's public part, the notifications as a list."""
    properties = schema["properties"]
    schema["properties"] = {name: properties[name] for name in PUBLIC_FIELDS if name in properties}
    schema["properties"]["output"] = _OUTPUT
    schema["properties"]["notifications"] = {"type": "array", "items": _NOTIFICATION}
    schema["required"] = [name for name in schema.get("required", []) if name in schema["properties"]]


def _tighten(schema: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    for name, rule in fields.items():
        kept = {k: v for k, v in schema["properties"][name].items() if k in ("default", "title", "description")}
        schema["properties"][name] = {**kept, **rule}


def _schemas(registry: Registry | None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models = [(model.__name__, model) for model in MODELS]
    models += [(model_name(d.namespace, d.name), d.binding.model) for d in _tasks(registry)]
    for name, model in models:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    _tighten(schemas["CreateTaskRequest"], _CREATE_FIELDS)
    _public_task(schemas["Task"])
    _tighten(schemas["NamedTaskRequest"], _NAMED_FIELDS)
    return schemas


def _tasks(registry: Registry | None) -> list[TaskDefinition]:
    return registry.definitions() if registry is not None else []


def _function_task_paths(registry: Registry | None) -> dict[str, Any]:
    """Seed 000 and 003 routes, and one start route per registered task with its arguments' schema."""
    namespace = _param("namespace", "path", {"type": "string"}, "The task's namespace")
    task_name = _param("task_name", "path", {"type": "string"}, "The task's name")
    task_id = _param("task_id", "path", {"type": "string"}, "The task's id")
    client_token = _param("client_token", "path", {"type": "string"}, "A client token (ct_…) of the same team")
    arguments = {"required": False, "description": "The function's arguments (a JSON object)",
                 "content": {"application/json": {"schema": {"type": "object"}}}}
    started = {"200": {"description": "Started", **_json("TaskStarted")}, **_errors(400, 401, 404, 413, 415)}
    paths: dict[str, Any] = {
        "/tasks/create": {"post": {
            "summary": "Start a function task by task_name (seed 000)",
            "requestBody": {"required": True, **_json("NamedTaskRequest")},
            "responses": {"201": {"description": "Created", **_json("NamedTaskCreated")},
                          **_errors(400, 401, 404, 413, 415)},
        }},
        "/tasks/{task_id}": {"get": {
            "summary": "A task's details (seed 000)", "parameters": [task_id],
            "responses": {"200": {"description": "The task", **_json("NamedTaskDetails")},
                          **_errors(401, 403, 404)},
        }},
        "/api/{namespace}/task/start/{task_name}": {"post": {
            "summary": "Start a function task with its arguments as the body (seed 003)",
            "parameters": [namespace, task_name], "requestBody": arguments, "responses": started,
        }},
        "/api/{namespace}/task/result/{task_id}": {"get": {
            "summary": "A function task's status, progress and result (seed 003)",
            "parameters": [namespace, task_id],
            "responses": {"200": {"description": "The task", **_json("TaskResult")}, **_errors(401, 403, 404)},
        }},
        "/api/{namespace}/tasks/{client_token}/start/{task_name}": {"post": {
            "summary": "Start a function task for a client token's client (seed 003)",
            "parameters": [namespace, client_token, task_name], "requestBody": arguments,
            "responses": {**started, **_errors(400, 401, 403, 404, 413)},
        }},
    }
    for definition in _tasks(registry):
        paths[f"/api/{definition.namespace}/task/start/{definition.name}"] = {"post": {
            "summary": f"Start {definition.qualified_name}",
            "description": definition.description,
            "requestBody": {"required": False, **_json(model_name(definition.namespace, definition.name))},
            "responses": started,
        }}
    return paths


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "Error", **_json("Error")} for c in codes}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def build_openapi(registry: Registry | None = None) -> dict[str, Any]:
    """The document; with a registry, each registered function task's start route and arguments."""
    task_id = _param("task_id", "path", {"type": "string"}, "The task's id")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Taskhook", "version": "1.0.0", "description": (
            f"Asynchronous task API. Request bodies up to {MAX_BODY_BYTES // 1024} KB (413 beyond), JSON "
            "without NaN or Infinity; every error is {\"error\": \"<message>\"}.")},
        "components": {
            "schemas": _schemas(registry),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/tasks": {
                "post": {
                    "summary": "Create a task",
                    "parameters": [
                        _param("Idempotency-Key", "header",
                               {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                               "Same key and body within 24 h returns the first task (200)."),
                    ],
                    "requestBody": {"required": True, **_json("CreateTaskRequest")},
                    "responses": {
                        "201": {"description": "Created", **_json("TaskEnvelope")},
                        "200": {"description": "Replay of an Idempotency-Key", **_json("TaskEnvelope")},
                        **_errors(400, 401, 409, 413, 415, 429),
                    },
                },
                "get": {
                    "summary": "List tasks",
                    "parameters": [
                        _param("status", "query", {"type": "string", "enum": [s.value for s in TaskStatus]},
                               "Filter by status"),
                        _param("limit", "query",
                               {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                "default": DEFAULT_PAGE_SIZE},
                               "Number of results"),
                        _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Offset"),
                        _param("sortOrder", "query", {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                               "Sort by creation time"),
                    ],
                    "responses": {"200": {"description": "A page", **_json("TaskList")}, **_errors(400, 401, 429)},
                },
            },
            "/v1/tasks/{task_id}": {
                "get": {
                    "summary": "Get a task",
                    "parameters": [
                        task_id,
                        _param("wait", "query",
                               {"type": "number", "minimum": 0, "maximum": MAX_LONG_POLL_SECONDS, "default": 0},
                               "Long poll: return when the status changes or after this many seconds"),
                    ],
                    "responses": {"200": {"description": "The task", **_json("TaskEnvelope")},
                                  **_errors(400, 401, 403, 404)},
                },
            },
            "/v1/tasks/{task_id}/cancel": {
                "post": {
                    "summary": "Cancel a task (pending, delayed, waiting or polling)",
                    "parameters": [task_id],
                    "responses": {"200": {"description": "The cancelled task", **_json("TaskEnvelope")},
                                  **_errors(401, 403, 404, 409, 415)},
                },
            },
            "/v1/webhooks/secret": {
                "get": {
                    "summary": "The team's webhook signing secrets (Standard Webhooks, whsec_…)",
                    "responses": {"200": {"description": "The secrets", **_json("SigningSecrets")}, **_errors(401)},
                },
            },
            "/v1/webhooks/secret/rotate": {
                "post": {
                    "summary": "Rotate the signing secret; the previous one keeps signing until its expiresAt",
                    "responses": {"200": {"description": "The secrets", **_json("SigningSecrets")},
                                  **_errors(401, 409, 415)},
                },
            },
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "OK"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {}}}}}},
            **_function_task_paths(registry),
        },
    }
