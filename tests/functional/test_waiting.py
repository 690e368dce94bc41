"""waitForCallback through app.py's entry points on moto (docs/waiting.md): the lane executor sends
the one-time URL and parks the task `waiting` in DynamoDB; the callback route (no API key) and
`POST /v1/tasks/{id}/complete` (the team's key) finish it; the minute sweep times a forgotten one
out through the table's deadline index. The answers are checked exactly, as a client sees them."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

import app as lambdas
from taskhook.model.callbacks import CALLBACK_HEADER, hash_secret
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import (
    api_key,
    context,
    create_task,
    dispatched_at_create,
    invoke_api,
    load_event,
    plain_row,
    row,
    set_header,
    sqs_event,
)

PUBLIC = "https://tasks.example.com"
NOT_FOUND = {"error": "Callback not found"}


@pytest.fixture
def public_url(target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The executors' TASKHOOK_PUBLIC_URL (template.yaml: PublicApiUrl, else the API's URL)."""
    from taskhook.container import reset_container

    monkeypatch.setenv("TASKHOOK_PUBLIC_URL", PUBLIC)
    reset_container()
    return PUBLIC


def callback_event(task_id: str, secret: str, body: Any, raw: str | None = None) -> dict[str, Any]:
    event = load_event("api_gateway_task_callback.json")
    event["pathParameters"] = {"task_id": task_id, "secret": secret}
    event["path"] = f"/v1/callbacks/{task_id}/{secret}"
    event["requestContext"]["path"] = f"/api{event['path']}"
    event["body"] = raw if raw is not None else json.dumps(body)
    set_header(event, "Content-Length", str(len(event["body"].encode())))
    return event


def complete_event(key: str, task_id: str, body: Any) -> dict[str, Any]:
    event = callback_event(task_id, "x" * 43, body)
    event["resource"] = event["requestContext"]["resourcePath"] = "/v1/tasks/{task_id}/complete"
    event["pathParameters"] = {"task_id": task_id}
    event["path"] = f"/v1/tasks/{task_id}/complete"
    event["requestContext"]["path"] = f"/api{event['path']}"
    set_header(event, "Authorization", f"Bearer {key}")
    return event


def run_to_waiting(aws: Provisioned, target: TargetServer, key: str, **fields: Any) -> tuple[str, str]:
    """Create a waitForCallback task, run it through the stream and the normal lane's executor
    against a target answering 202; returns (task id, the secret of the URL the target got)."""
    task = create_task(key, targetUrl=target.url("/jobs", [{"status": 202, "body": '{"job": "j-1"}'}]),
                       waitForCallback=True, **fields)
    messages = dispatched_at_create(aws, task["id"], "normal")
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env["QUEUE_NORMAL_URL"], messages),
                                    context("execute_normal", 330))
    assert answer == {"batchItemFailures": []}
    [call] = target.calls("/jobs")
    url = call.headers[CALLBACK_HEADER]
    prefix = f"{PUBLIC}/v1/callbacks/{task['id']}/"
    assert url.startswith(prefix), url
    return task["id"], url.removeprefix(prefix)


def test_a_target_that_answers_2xx_parks_the_task_waiting_with_only_the_hash_stored(
        aws: Provisioned, target: TargetServer, public_url: str) -> None:
    task_id, secret = run_to_waiting(aws, target, api_key())

    item = plain_row(aws, task_id)
    assert item["status"] == {"S": "waiting"}
    assert item["callbackHash"] == {"S": hash_secret(secret)}
    assert secret not in json.dumps(item)  # the row never holds the URL itself
    assert "claimToken" not in item and "deadlineAt" in item  # the sweep's deadline index still has it
    assert json.loads(item["result"]["S"])["statusCode"] == 202


def test_the_callback_url_completes_the_task_once(aws: Provisioned, target: TargetServer, public_url: str) -> None:
    task_id, secret = run_to_waiting(aws, target, api_key())
    body = {"status": "completed", "result": {"url": "https://cdn.example.com/out/42.png"}}

    status, answer = invoke_api(callback_event(task_id, secret, body))

    assert status == 200
    assert answer["task"]["status"] == "completed"
    assert answer["task"]["result"] == body["result"]
    assert set(answer["task"]) == {"id", "teamId", "status", "waitForCallback", "result", "createdAt", "startedAt",
                                   "completedAt", "updatedAt"}  # the outcome, not the team's request
    assert row(aws, task_id)["status"] == {"S": "completed"}
    # A replay: the task is no longer waiting; nothing changes.
    before = row(aws, task_id)
    assert invoke_api(callback_event(task_id, secret, {"status": "failed", "error": "again"})) == (
        409, {"error": "Callback already used or task no longer waiting: status is completed"})
    assert row(aws, task_id) == before


def test_a_wrong_secret_and_an_unknown_task_get_the_same_404(
        aws: Provisioned, target: TargetServer, public_url: str) -> None:
    task_id, secret = run_to_waiting(aws, target, api_key())
    done = {"status": "completed"}
    wrong = ("A" if secret[0] != "A" else "B") + secret[1:]

    assert invoke_api(callback_event(task_id, wrong, done)) == (404, NOT_FOUND)
    assert invoke_api(callback_event("0b5e2f7e-1c1d-4b8a-9f51-6c1a2e3d4f50", secret, done)) == (404, NOT_FOUND)
    assert invoke_api(callback_event(task_id, secret[:-1], done)) == (404, NOT_FOUND)
    assert row(aws, task_id)["status"] == {"S": "waiting"}


@pytest.mark.parametrize(("raw", "answer"), [
    ("", (400, {"error": "Request body is required"})),
    ("not json", (400, {"error": "Request body must be valid JSON"})),
    ('{"status": "done"}', (400, {"error": "status must be one of: completed, failed"})),
    ('{"result": 1}', (400, {"error": "status is required"})),
    ('{"status": "failed", "reason": "x"}', (400, {"error": "Unknown field: reason"})),
])
def test_a_bad_callback_body_is_a_400_and_changes_nothing(
        aws: Provisioned, target: TargetServer, public_url: str, raw: str, answer: tuple[int, Any]) -> None:
    task_id, secret = run_to_waiting(aws, target, api_key())
    before = row(aws, task_id)

    assert invoke_api(callback_event(task_id, secret, None, raw=raw)) == answer
    assert row(aws, task_id) == before


def test_the_team_completes_its_waiting_task_with_its_key(
        aws: Provisioned, target: TargetServer, public_url: str) -> None:
    key = api_key()
    task_id, secret = run_to_waiting(aws, target, key)
    failed = {"status": "failed", "error": "render farm gave up"}

    assert invoke_api(complete_event(api_key("team-b"), task_id, failed)) == (403, {"error": "Access denied"})
    assert invoke_api(complete_event("th_not-a-key", task_id, failed)) == (
        401, {"error": "Invalid or revoked API key"})
    assert row(aws, task_id)["status"] == {"S": "waiting"}

    status, answer = invoke_api(complete_event(key, task_id, failed))

    assert status == 200
    assert (answer["task"]["status"], answer["task"]["error"]) == ("failed", "render farm gave up")
    assert invoke_api(complete_event(key, task_id, failed)) == (
        409, {"error": "Task is not waiting for a callback: status is failed"})
    # The URL the target holds is spent too.
    assert invoke_api(callback_event(task_id, secret, {"status": "completed"})) == (
        409, {"error": "Callback already used or task no longer waiting: status is failed"})


def test_complete_is_409_for_a_task_that_is_not_waiting(aws: Provisioned) -> None:
    key = api_key()
    task = create_task(key)
    assert invoke_api(complete_event(key, task["id"], {"status": "completed"})) == (
        409, {"error": "Task is not waiting for a callback: status is pending"})
    assert invoke_api(complete_event(key, "0b5e2f7e-1c1d-4b8a-9f51-6c1a2e3d4f50", {"status": "completed"})) == (
        404, {"error": "Task not found"})


def test_the_minute_sweep_times_out_a_task_whose_callback_never_came(
        aws: Provisioned, target: TargetServer, public_url: str) -> None:
    task_id, secret = run_to_waiting(aws, target, api_key(), maxWaitTime=1)
    time.sleep(1.2)  # past startedAt + maxWaitTime (the deadline is stored to the millisecond)

    report = lambdas.sweep(load_event("eventbridge_schedule.json"), context("SchedulerFunction", 60))

    assert report["timedOut"] == 1
    item = row(aws, task_id)
    assert (item["status"], item["error"]) == ({"S": "timeout"}, {"S": "maxWaitTime of 1s exceeded"})
    assert invoke_api(callback_event(task_id, secret, {"status": "completed"})) == (
        409, {"error": "Callback already used or task no longer waiting: status is timeout"})


def test_cancel_ends_a_waiting_task(aws: Provisioned, target: TargetServer, public_url: str) -> None:
    key = api_key()
    task_id, secret = run_to_waiting(aws, target, key)
    event = copy.deepcopy(complete_event(key, task_id, {}))
    event["resource"] = event["requestContext"]["resourcePath"] = "/v1/tasks/{task_id}/cancel"
    event["path"] = f"/v1/tasks/{task_id}/cancel"

    status, answer = invoke_api(event)

    assert (status, answer["task"]["status"]) == (200, "cancelled")
    assert invoke_api(callback_event(task_id, secret, {"status": "completed"})) == (
        409, {"error": "Callback already used or task no longer waiting: status is cancelled"})


def test_create_refuses_waitForCallback_with_a_provider_and_stores_nothing(aws: Provisioned) -> None:
    from .test_handlers import create_task_event

    event = create_task_event(api_key(), waitForCallback=True, provider="replicate")
    assert invoke_api(event) == (400, {"error": "waitForCallback cannot be combined with provider or pollConfig"})
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0
