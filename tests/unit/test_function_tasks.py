"""Starting and reading function tasks (seeds 000 and 003), client tokens, and the three ways a
task is shown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from functions.events import task_from_image
from taskhook.adapters.http import OutboundPolicy
from taskhook.intake.api_keys import ApiKeyService
from taskhook.intake.client_tokens import ClientTokenService
from taskhook.intake.function_tasks import FunctionTaskService, parse_named_task_request
from taskhook.intake.views import seed000_task, seed003_result, v1_task
from taskhook.model.errors import AccessDenied, NotFound, Unauthorized, ValidationFailed
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.functions.arguments import ArgumentsInvalid
from taskhook.run.functions.context import TaskContext
from taskhook.run.functions.registry import Registry, UnknownTask
from tests.support.fakes import InMemoryApiKeyRepository, InMemoryTaskRepository

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
STAMP = "2024-01-15T10:30:00.000Z"


class InputArgs(BaseModel):
    name: str
    age: int


@pytest.fixture
def registry() -> Registry:
    registry = Registry()

    @registry.task(namespace="example_task2", max_retries=2, priority=9, timeout=60, max_wait_time=120)
    async def task2_with_args(task: TaskContext, task_args: InputArgs) -> str:
        return task_args.name

    @registry.task(namespace="seed000")
    def free_form(task: TaskContext, task_data: str) -> str:
        return task_data

    return registry


@pytest.fixture
def repo() -> InMemoryTaskRepository:
    return InMemoryTaskRepository()


@pytest.fixture
def service(repo: InMemoryTaskRepository, registry: Registry) -> FunctionTaskService:
    ids = iter(f"id-{i}" for i in range(100))
    return FunctionTaskService(repo, registry, clock=lambda: NOW, new_id=lambda: next(ids),
                               outbound=OutboundPolicy(resolve=lambda host: ["93.184.216.34"]))


def test_start_stores_a_pending_function_task(service: FunctionTaskService, repo: InMemoryTaskRepository) -> None:
    task = service.start("team-a", "example_task2", "task2_with_args", {"name": "Matt", "age": 25},
                         client_id="cli_123")
    assert repo.get(task.id) == task
    assert task.model_dump(exclude_none=True) == {
        "id": "id-0", "teamId": "team-a", "kind": "function", "status": TaskStatus.PENDING,
        "namespace": "example_task2", "name": "task2_with_args", "args": {"name": "Matt", "age": 25},
        "progress": 0, "method": "POST", "headers": {}, "maxWaitTime": 120, "timeout": 60, "maxRetries": 2,
        "retryCount": 0, "retryBackoff": "exponential", "priority": 9, "clientId": "cli_123",
        "createdAt": STAMP, "updatedAt": STAMP, "version": 1, "statusVersion": 1,
    }


def test_bad_arguments_store_nothing(service: FunctionTaskService, repo: InMemoryTaskRepository) -> None:
    with pytest.raises(ArgumentsInvalid, match="age: Input should be a valid integer"):
        service.start("team-a", "example_task2", "task2_with_args", {"name": "Matt", "age": "x"})
    with pytest.raises(UnknownTask, match="Registered tasks: example_task2.task2_with_args, seed000.free_form"):
        service.start("team-a", "example_task2", "nope", {})
    assert repo.writes == 0


def test_seed_000_names_the_task_and_passes_task_data(service: FunctionTaskService) -> None:
    request = parse_named_task_request({"task_name": "example_task2.task2_with_args",
                                        "task_data": {"name": "Ada", "age": 36},
                                        "callback_url": "https://hooks.example.com/t?custom=1"})
    task = service.start_named("team-a", request)
    assert (task.qualified_name, task.args, task.callbackUrl) == (
        "example_task2.task2_with_args", {"name": "Ada", "age": 36}, "https://hooks.example.com/t?custom=1")
    bare = service.start_named("team-a", parse_named_task_request({"task_name": "free_form",
                                                                   "task_data": "Some data related to the task"}))
    assert bare.args == {"task_data": "Some data related to the task"}


def test_seed_000_task_data_must_be_an_object_unless_the_function_takes_task_data(
        service: FunctionTaskService) -> None:
    request = parse_named_task_request({"task_name": "task2_with_args", "task_data": "text"})
    with pytest.raises(ValidationFailed, match="task_data must be a JSON object of the arguments of"):
        service.start_named("team-a", request)
    with pytest.raises(UnknownTask, match="Unknown task Example Task. Registered tasks: "):
        service.start_named("team-a", parse_named_task_request({"task_name": "Example Task"}))


@pytest.mark.parametrize("body, message", [
    ({}, "task_name is required"),
    ({"task_name": 5}, "task_name must be a non-empty string"),
    ({"task_name": ""}, "task_name must be a non-empty string"),
    ({"task_name": "a.b", "callback_url": "ftp://x"}, "callback_url must be a valid HTTP/HTTPS URL"),
    ({"task_name": "a.b", "priority": 3}, "Unknown field: priority"),
])
def test_seed_000_request_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_named_task_request(body)
    assert caught.value.message == message


def test_a_private_callback_url_is_refused(repo: InMemoryTaskRepository, registry: Registry) -> None:
    service = FunctionTaskService(repo, registry, outbound=OutboundPolicy(resolve=lambda host: ["10.0.0.7"]))
    request = parse_named_task_request({"task_name": "free_form", "task_data": "x",
                                        "callback_url": "https://internal.example/"})
    with pytest.raises(ValidationFailed, match="callback_url resolves to a private"):
        service.start_named("team-a", request)


def test_reading_is_per_team_and_per_namespace(service: FunctionTaskService) -> None:
    task = service.start("team-a", "example_task2", "task2_with_args", {"name": "M", "age": 1})
    assert service.get("team-a", task.id) == task
    assert service.get_in_namespace("team-a", "example_task2", task.id) == task
    with pytest.raises(AccessDenied):
        service.get("team-b", task.id)
    with pytest.raises(AccessDenied):
        service.get_in_namespace("team-b", "example_task2", task.id)
    with pytest.raises(NotFound):
        service.get_in_namespace("team-a", "other_namespace", task.id)
    with pytest.raises(NotFound):
        service.get("team-a", "missing")


# ---------------------------------------------------------------------------------------------
# client tokens


def test_client_tokens_are_made_like_api_keys_but_are_not_api_keys() -> None:
    repo = InMemoryApiKeyRepository()
    tokens = ClientTokenService(repo, clock=lambda: NOW)
    secret, token = tokens.create("team-a", "mobile-app")
    assert secret.startswith("ct_") and token.key_id.startswith("cli_") and token.kind == "client"
    assert secret not in repr(repo._by_hash)  # only the hash is stored
    assert tokens.authenticate("team-a", secret) == token
    with pytest.raises(AccessDenied):
        tokens.authenticate("team-b", secret)
    with pytest.raises(Unauthorized, match="Invalid or revoked client token"):
        tokens.authenticate("team-a", "ct_unknown")
    with pytest.raises(AccessDenied, match="A client token can only read its client's tasks"):
        ApiKeyService(repo).authenticate(f"Bearer {secret}")  # a client token is no Bearer key (issue 16: 403)
    api_secret, _ = ApiKeyService(repo).create("team-a")
    with pytest.raises(Unauthorized, match="Invalid or revoked client token"):
        tokens.authenticate("team-a", api_secret)  # nor is an API key a client token
    assert tokens.list("team-a") == [token]
    tokens.revoke(token.key_id)
    with pytest.raises(Unauthorized):
        tokens.authenticate("team-a", secret)
    with pytest.raises(ValidationFailed):
        tokens.create("team-a", " ")
    with pytest.raises(NotFound):
        tokens.revoke("key_123")


# ---------------------------------------------------------------------------------------------
# views


def function_task(**fields: Any) -> Task:
    data: dict[str, Any] = {
        "id": "t1", "teamId": "team-a", "kind": "function", "status": TaskStatus.COMPLETED,
        "namespace": "builtin", "name": "fetch_url", "args": {"url": "https://example.com/a.csv"},
        "progress": 100, "message": "done", "result": {"size": 3},
        "output": {"key": "outputs/team-a/t1/a.csv", "contentType": "text/csv", "size": 3, "filename": "a.csv"},
        "callbackUrl": "https://hooks.example.com/", "createdAt": STAMP, "updatedAt": "2024-01-15T10:30:05.000Z",
        "completedAt": "2024-01-15T10:30:05.000Z", "claimToken": None,
    }
    data.update(fields)
    return Task.model_validate(data)


def test_v1_shows_function_fields_and_the_download_link() -> None:
    view = v1_task(function_task(), "https://s3/presigned")
    assert list(view)[:8] == ["id", "teamId", "kind", "namespace", "name", "status", "progress", "message"]
    assert "targetUrl" not in view and "method" not in view and "headers" not in view
    assert view["output"] == {"filename": "a.csv", "contentType": "text/csv", "size": 3,
                              "downloadUrl": "https://s3/presigned"}
    assert view["result"] == {"size": 3} and view["callbackUrl"] == "https://hooks.example.com/"
    assert "key" not in str(view["output"])


def test_v1_http_tasks_are_unchanged() -> None:
    http = Task.model_validate({"id": "h", "teamId": "t", "status": "completed", "targetUrl": "https://x/",
                                "result": {"statusCode": 200, "headers": {}, "body": "", "duration": 5},
                                "createdAt": STAMP})
    view = v1_task(http, None)
    assert view["method"] == "POST" and view["result"]["statusCode"] == 200
    assert "progress" not in view and "output" not in view


def test_seed_000_and_003_views() -> None:
    task = function_task()
    assert seed000_task(task, "https://dl") == {
        "task_id": "t1", "task_name": "builtin.fetch_url", "kind": "function", "status": "completed",
        "progress": 100, "message": "done", "result": {"size": 3}, "error": None, "download_url": "https://dl",
        "callback_url": "https://hooks.example.com/", "created_at": STAMP, "started_at": None,
        "completed_at": "2024-01-15T10:30:05.000Z", "updated_at": "2024-01-15T10:30:05.000Z",
    }
    assert seed003_result(task, "https://dl") == {
        "task_id": "t1", "status": "completed", "progress": 100, "result": {"size": 3},
        "timestamp": "2024-01-15T10:30:05.000Z", "message": "done", "download_url": "https://dl",
    }
    failed = function_task(status=TaskStatus.FAILED, result=None, output=None, error="ValueError: boom",
                           message=None)
    assert seed003_result(failed) == {"task_id": "t1", "status": "failed", "progress": 100, "result": None,
                                      "timestamp": "2024-01-15T10:30:05.000Z", "error": "ValueError: boom"}


def test_a_stream_image_decodes_the_json_attributes() -> None:
    from decimal import Decimal

    image = {"id": "t1", "teamId": "team-a", "kind": "function", "status": "completed", "progress": Decimal(100),
             "maxWaitTime": Decimal(3600), "args": '{"url": "https://example.com/a.csv"}', "result": '"<Task1 Result>"',
             "output": '{"key": "k", "contentType": "text/csv", "size": 3, "filename": "a.csv"}',
             "createdAt": STAMP}
    task = task_from_image(image)
    assert task is not None
    assert (task.progress, task.result, task.args, task.output) == (
        100, "<Task1 Result>", {"url": "https://example.com/a.csv"},
        {"key": "k", "contentType": "text/csv", "size": 3, "filename": "a.csv"})
    assert task.public()["output"]["size"] == 3
