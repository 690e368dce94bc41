"""Function tasks on the real adapters (PynamoDB, boto3 S3, the table's stream) against moto:
progress writes, any-JSON results, outputs and their presigned URLs, client tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent

from functions.events import task_from_image
from taskhook.container import container, reset_container
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import Transition
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskRepository
from tests.support.fakes import InMemoryTaskRepository

from .conftest import Provisioned

S = TaskStatus
TOKEN = "claim-1"
STAMP = "2024-01-15T10:30:00.000Z"
TEST_TASKS = "builtin,tests.support.function_tasks"


def function_task(task_id: str = "fn-1", **fields: Any) -> Task:
    data: dict[str, Any] = {
        "id": task_id, "teamId": "team-a", "kind": "function", "status": S.PROCESSING, "namespace": "testing",
        "name": "writes_output", "args": {"text": "hi", "nested": [1, 2.5, None, {"a": True}], "empty": ""},
        "progress": 0, "claimToken": TOKEN, "startedAt": STAMP, "callbackUrl": "https://hooks.example.com/?x=1",
        "clientId": "cli_0123456789ab", "createdAt": STAMP, "updatedAt": STAMP,
    }
    data.update(fields)
    return Task.model_validate(data)


@pytest.fixture(params=["memory", "dynamo"])
def repository(request: pytest.FixtureRequest) -> Iterator[TaskRepository]:
    if request.param == "memory":
        yield InMemoryTaskRepository()
    else:
        request.getfixturevalue("aws")
        yield container().task_repository


def test_function_fields_round_trip(repository: TaskRepository) -> None:
    task = function_task()
    repository.put_new(task)
    assert repository.get(task.id) == task


@pytest.mark.parametrize("result", ["<Task1 Result>", 42, 2.5, True, [1, "two", None], {"k": {"n": [1.5]}}])
def test_a_function_result_can_be_any_json(repository: TaskRepository, result: Any) -> None:
    task = function_task()
    repository.put_new(task)
    done = repository.apply(task, Transition(S.COMPLETED, {"result": result, "progress": 100,
                                                                       "claimToken": None},
                                                                       from_=frozenset({S.PROCESSING})))
    assert done.result == result
    stored = repository.get(task.id)
    assert stored is not None and stored.result == result and stored.progress == 100


def test_report_progress_holds_only_for_the_claim_and_only_upwards(repository: TaskRepository) -> None:
    task = function_task()
    repository.put_new(task)
    repository.report_progress(task.id, TOKEN, 40, "reading", "2024-01-15T10:30:01.000Z")
    repository.report_progress(task.id, TOKEN, 40, None, "2024-01-15T10:30:02.000Z")  # equal: allowed
    with pytest.raises(Conflict):
        repository.report_progress(task.id, TOKEN, 39, None, "2024-01-15T10:30:03.000Z")
    with pytest.raises(Conflict):
        repository.report_progress(task.id, "another-claim", 90, None, "2024-01-15T10:30:03.000Z")
    with pytest.raises(NotFound):
        repository.report_progress("missing", TOKEN, 10, None, "2024-01-15T10:30:03.000Z")
    stored = repository.get(task.id)
    assert stored is not None
    assert (stored.progress, stored.message, stored.updatedAt, stored.status) == (
        40, "reading", "2024-01-15T10:30:02.000Z", S.PROCESSING)
    repository.apply(stored, Transition(S.TIMEOUT, {"claimToken": None}, from_=frozenset({S.PROCESSING})))
    with pytest.raises(Conflict):  # the sweep timed it out: the run may not write any more
        repository.report_progress(task.id, TOKEN, 50, None, "2024-01-15T10:30:04.000Z")


def test_a_task_without_stored_progress_accepts_the_first_report(repository: TaskRepository) -> None:
    task = function_task(progress=None)
    repository.put_new(task)
    repository.report_progress(task.id, TOKEN, 5, None, "2024-01-15T10:30:01.000Z")
    stored = repository.get(task.id)
    assert stored is not None and stored.progress == 5


def test_json_values_are_json_strings_in_the_table(aws: Provisioned) -> None:
    repository = container().task_repository
    task = function_task()
    repository.put_new(task)
    repository.apply(task, Transition(S.COMPLETED, {"result": "<Task1 Result>", "claimToken": None},
                                      from_=frozenset({S.PROCESSING})))
    item = aws.client("dynamodb").get_item(TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task.id}})["Item"]
    assert item["result"] == {"S": '"<Task1 Result>"'}
    assert json.loads(item["args"]["S"]) == task.args
    assert item["progress"] == {"N": "0"}


def test_the_stream_image_gives_back_the_same_task(aws: Provisioned) -> None:
    """What the stream dispatcher reads (Powertools' deserialized image) is the task the repository returns.
    A stream record's NewImage is the item in DynamoDB JSON: built here from the stored item
    (moto's in-process mock does not serve the streams API; the e2e suite reads the real stream)."""
    repository = container().task_repository
    task = function_task()
    repository.put_new(task)
    output = {"key": "outputs/team-a/fn-1/out.txt", "contentType": "text/plain", "size": 2, "filename": "out.txt"}
    repository.apply(task, Transition(S.COMPLETED,
                                      {"result": {"size": 2}, "output": output, "progress": 100, "claimToken": None},
                                      from_=frozenset({S.PROCESSING})))
    item = aws.client("dynamodb").get_item(TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task.id}})["Item"]
    event = DynamoDBStreamEvent({"Records": [{
        "eventID": "1", "eventName": "MODIFY", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"Keys": {"id": {"S": task.id}}, "NewImage": item, "SequenceNumber": "1", "SizeBytes": 1,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }]})
    record = next(iter(event.records))
    assert record.dynamodb is not None
    image = task_from_image(record.dynamodb.new_image)
    assert image == repository.get(task.id)
    assert image is not None and image.output == output and image.result == {"size": 2} and image.progress == 100


def test_an_output_downloads_through_its_presigned_url(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHOOK_TASK_MODULES", TEST_TASKS)
    monkeypatch.setenv("TASKHOOK_DOWNLOAD_URL_TTL", "120")
    reset_container()
    text = "héllo, output ✓\n" * 100
    task = container().function_task_service.start("team-a", "testing", "writes_output",
                                                     {"text": text, "filename": "greeting.txt"})
    outcome = container().executor.run(task.id, lambda: 300.0, lambda seconds: None)
    assert outcome.note == "completed"
    done = container().task_service.get("team-a", task.id)
    assert done.result == {"size": len(text.encode())}
    url = container().download_links.url_for(done)
    assert url is not None and "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == text.encode("utf-8")
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Disposition"] == 'attachment; filename="greeting.txt"'


def test_the_configured_modules_are_the_registry(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHOOK_TASK_MODULES", TEST_TASKS)
    reset_container()
    names = container().task_registry.names()
    assert {"example_task.task1", "example_task2.task2_with_args", "builtin.fetch_url", "testing.boom"} <= set(names)


def test_client_tokens_live_in_the_api_keys_table(aws: Provisioned) -> None:
    tokens = container().client_token_service
    secret, token = tokens.create("team-a", "mobile-app")
    assert tokens.authenticate("team-a", secret) == token
    assert [t.key_id for t in tokens.list("team-a")] == [token.key_id]
    keys = container().api_key_service
    _, key = keys.create("team-a", name="ci")
    assert [t.key_id for t in tokens.list("team-a")] == [token.key_id]  # the API key is not listed
    item = aws.client("dynamodb").scan(TableName=aws.env["API_KEYS_TABLE"])["Items"]
    kinds = {row["keyId"]["S"]: row.get("kind", {}).get("S") for row in item}
    assert kinds == {token.key_id: "client", key.key_id: "api"}
    assert all(secret not in json.dumps(row) for row in item)
    tokens.revoke(token.key_id)
    assert tokens.list("team-a")[0].revoked_at is not None
