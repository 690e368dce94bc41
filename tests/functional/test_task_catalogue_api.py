"""The task catalogue and seed 000's own example through the Chalice app on moto."""

from __future__ import annotations

from taskhook.container import container
from tests.support.api_client import ApiClient

from .conftest import Provisioned


def test_the_catalogue_lists_example_task_and_seed_000s_example_creates_it(aws: Provisioned) -> None:
    api = ApiClient("team-a")

    code, body = api.call("GET", "/v1/functions")
    assert code == 200
    names = {f["displayName"]: (f["namespace"], f["name"]) for f in body["functions"]}
    assert names["Example Task"] == ("example_task", "task1")
    assert names["Example Task2"] == ("example_task2", "task2_with_args")

    code, created = api.call("POST", "/tasks/create", {
        "task_name": "Example Task", "task_data": "Some data related to the task",
        "callback_url": "https://example.com/hook"})
    assert code == 201, created
    task = container().task_repository.get(created["task_id"])
    assert task is not None and task.qualified_name == "example_task.task1"
    assert task.args == {"task_data": "Some data related to the task"}
    assert api.call("POST", "/tasks/create", {"task_name": "Example Task3"})[0] == 404


def _task_count(aws: Provisioned) -> int:
    return int(aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"])


def test_a_function_task_started_twice_under_one_idempotency_key_is_one_task(aws: Provisioned) -> None:
    """A client retrying a start whose answer it never saw (taskhook_client's `run`) makes one task,
    on seed 000's /tasks/create and seed 003's start alike; another body under the key is 409."""
    api = ApiClient("team-a")
    named = {"task_name": "example_task2.task2_with_args", "task_data": {"name": "Matt", "age": 25}}

    first = api.call("POST", "/tasks/create", named, {"Idempotency-Key": "run-1"})
    again = api.call("POST", "/tasks/create", named, {"Idempotency-Key": "run-1"})
    assert (first[0], again[0]) == (201, 200)
    assert again[1]["task_id"] == first[1]["task_id"]
    assert api.call("POST", "/tasks/create", {**named, "task_data": {"name": "Ann", "age": 3}},
                    {"Idempotency-Key": "run-1"})[0] == 409

    path = "/api/example_task2/task/start/task2_with_args"
    one = api.call("POST", path, {"name": "Matt", "age": 25}, {"Idempotency-Key": "start-1"})
    two = api.call("POST", path, {"name": "Matt", "age": 25}, {"Idempotency-Key": "start-1"})
    assert one[0] == two[0] == 200 and one[1]["task_id"] == two[1]["task_id"]
    assert _task_count(aws) == 2
    assert api.call("POST", path, {"name": "Matt", "age": 25}, {"Idempotency-Key": ""})[0] == 400
    assert _task_count(aws) == 2
