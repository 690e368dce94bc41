"""`POST /v1/tasks/{id}/retry` through the Chalice app on moto: a failed or timeout task becomes a
new task with the same request and `retryOf`; the original is left as it ended; anything else is
409 with nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskhook.container import container
from taskhook.model.clock import iso
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.api_client import ApiClient

from .conftest import Provisioned

S = TaskStatus
TEAM = "team-a"
STAMP = iso(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))


def stored(task_id: str, **fields: object) -> Task:
    data: dict[str, object] = {
        "id": task_id, "teamId": TEAM, "status": S.FAILED, "targetUrl": "https://api.example.com/hook",
        "method": "PUT", "headers": {"X-Trace": "abc"}, "body": '{"n": 1}', "maxRetries": 2, "priority": 9,
        "retryCount": 2, "error": "HTTP 503", "createdAt": STAMP, "startedAt": STAMP, "completedAt": STAMP,
        "attempts": [{"attempt": 1, "outcome": "failed"}], "attemptsTotal": 1, "clientId": "cli_1",
    }
    data.update(fields)
    task = Task.model_validate(data)
    container().task_repository.put_new(task)
    return task


def count_rows(aws: Provisioned) -> int:
    return int(aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"])


@pytest.mark.parametrize("status", [S.FAILED, S.TIMEOUT])
def test_a_failed_or_timeout_task_is_retried_as_a_new_task(aws: Provisioned, status: TaskStatus) -> None:
    original = stored("t-1", status=status)
    api = ApiClient(TEAM)

    code, body = api.call("POST", "/v1/tasks/t-1/retry")

    assert code == 201, body
    new = body["task"]
    assert new["id"] != "t-1" and new["retryOf"] == "t-1" and new["status"] == "pending"
    for name in ("targetUrl", "method", "headers", "body", "maxRetries", "priority", "clientId"):
        assert new[name] == original.public()[name]
    assert new["retryCount"] == 0
    assert not {"error", "attempts", "attemptsTotal", "completedAt", "startedAt"} & set(new)
    assert container().task_repository.get("t-1") == original  # left as it ended
    code, again = api.call("GET", f"/v1/tasks/{new['id']}")
    assert code == 200 and again["task"]["retryOf"] == "t-1"


def test_a_function_task_is_retried_with_its_arguments(aws: Provisioned) -> None:
    stored("f-1", kind="function", namespace="builtin", name="echo", args={"message": "hi"}, progress=40,
           targetUrl=None, status=S.TIMEOUT)

    code, body = ApiClient(TEAM).call("POST", "/v1/tasks/f-1/retry")

    assert code == 201, body
    new = body["task"]
    assert (new["kind"], new["namespace"], new["name"], new["args"], new["progress"]) == (
        "function", "builtin", "echo", {"message": "hi"}, 0)


def test_any_other_task_is_409_and_nothing_is_stored(aws: Provisioned) -> None:
    api = ApiClient(TEAM)
    for status in (S.PENDING, S.DELAYED, S.PROCESSING, S.WAITING, S.POLLING, S.COMPLETED, S.CANCELLED):
        stored(f"t-{status.value}", status=status)
    rows = count_rows(aws)

    for status in (S.PENDING, S.DELAYED, S.PROCESSING, S.WAITING, S.POLLING, S.COMPLETED, S.CANCELLED):
        code, body = api.call("POST", f"/v1/tasks/t-{status.value}/retry")
        assert (code, body) == (409, {"error": "Only failed or timeout tasks can be retried"}), status

    assert count_rows(aws) == rows


def test_an_unknown_or_other_teams_task_is_refused(aws: Provisioned) -> None:
    stored("t-1")
    other = ApiClient("team-b")
    rows = count_rows(aws)
    assert other.call("POST", "/v1/tasks/t-1/retry") == (403, {"error": "Access denied"})
    assert other.call("POST", "/v1/tasks/nope/retry") == (404, {"error": "Task not found"})
    assert count_rows(aws) == rows


def test_an_idempotency_key_retries_once(aws: Provisioned) -> None:
    stored("t-1")
    api = ApiClient(TEAM)
    first = api.call("POST", "/v1/tasks/t-1/retry", headers={"Idempotency-Key": "r-1"})
    second = api.call("POST", "/v1/tasks/t-1/retry", headers={"Idempotency-Key": "r-1"})
    assert first[0] == 201 and second[0] == 200
    assert first[1]["task"]["id"] == second[1]["task"]["id"]
    assert api.call("POST", "/v1/tasks/t-1/retry", headers={"Idempotency-Key": ""})[0] == 400
