"""The OpenAPI 3.1 document, with every schema generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskhook.intake.function_tasks import NamedTaskRequest
from taskhook.intake.validation import CreateTaskRequest
from taskhook.model.limits import DEFAULT_PAGE_SIZE, MAX_IDEMPOTENCY_KEY, MAX_LONG_POLL_SECONDS, MAX_PAGE_SIZE
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
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


MODELS: tuple[type[BaseModel], ...] = (
    CreateTaskRequest, TaskEnvelope, TaskList, Error, NamedTaskRequest, NamedTaskCreated, NamedTaskDetails,
    TaskStarted, TaskResult,
)


def _schemas(registry: Registry | None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models = [(model.__name__, model) for model in MODELS]
    models += [(model_name(d.namespace, d.name), d.binding.model) for d in _tasks(registry)]
    for name, model in models:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
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
    started = {"200": {"description": "Started", **_json("TaskStarted")}, **_errors(400, 401, 404, 413)}
    paths: dict[str, Any] = {
        "/tasks/create": {"post": {
            "summary": "Start a function task by task_name (seed 000)",
            "requestBody": {"required": True, **_json("NamedTaskRequest")},
            "responses": {"201": {"description": "Created", **_json("NamedTaskCreated")},
                          **_errors(400, 401, 404, 413)},
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
        "info": {"title": "Taskhook", "version": "1.0.0", "description": "Asynchronous task API."},
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
                        _param("Idempotency-Key", "header", {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                               "Same key and body within 24 h returns the first task (200)."),
                    ],
                    "requestBody": {"required": True, **_json("CreateTaskRequest")},
                    "responses": {
                        "201": {"description": "Created", **_json("TaskEnvelope")},
                        "200": {"description": "Replay of an Idempotency-Key", **_json("TaskEnvelope")},
                        **_errors(400, 401, 409, 413, 429),
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
                                  **_errors(401, 403, 404, 409)},
                },
            },
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "OK"}}}},
            **_function_task_paths(registry),
        },
    }
