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
