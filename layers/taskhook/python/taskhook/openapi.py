"""The OpenAPI 3.1 document, with every schema generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .pagination import DEFAULT_LIMIT, MAX_LIMIT
from .statuses import TaskStatus
from .task import Task
from .validation import CreateTaskRequest

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


MODELS: tuple[type[BaseModel], ...] = (CreateTaskRequest, TaskEnvelope, TaskList, Error)


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "Error", **_json("Error")} for c in codes}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def build_openapi() -> dict[str, Any]:
    task_id = _param("task_id", "path", {"type": "string"}, "The task's id")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Taskhook", "version": "1.0.0", "description": "Asynchronous task API."},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/tasks": {
                "post": {
                    "summary": "Create a task",
                    "parameters": [
                        _param("Idempotency-Key", "header", {"type": "string", "maxLength": 255},
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
                               {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
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
                        _param("wait", "query", {"type": "number", "minimum": 0, "maximum": 25, "default": 0},
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
        },
    }
