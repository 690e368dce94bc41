"""The v1 task API (seed 002) over real HTTP: create, get, auth, teams, cancel."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.support.targets import TargetServer

from .conftest import FAR_FUTURE, Client, Stack, park_pending

# Tasks that must not run use this URL with delayUntil=FAR_FUTURE: nothing is ever sent to it.
URL = "https://api.example.com/webhook"
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PARKED = {"targetUrl": URL, "delayUntil": FAR_FUTURE}


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def assert_error(response: requests.Response, status: int, message: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    if message is not None:
        assert body["error"] == message
    return body["error"]


# ---- health -----------------------------------------------------------------------------------


def test_health_needs_no_api_key(anonymous: Client) -> None:
    response = anonymous.request("GET", "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# ---- create -----------------------------------------------------------------------------------


def test_create_with_only_target_url_gets_every_seed_default(shared: Client, target: TargetServer) -> None:
    url = target.base + "/ok"
    before = datetime.now(UTC)
    response = shared.create({"targetUrl": url})

    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    task = response.json()["task"]
    assert set(response.json()) == {"task"}
    uuid.UUID(task["id"])
    assert task["teamId"] == shared.team
    assert task["targetUrl"] == url
    assert task["status"] == "pending"
    assert task["method"] == "POST"
    assert task["maxWaitTime"] == 30 and type(task["maxWaitTime"]) is int
    assert task["timeout"] == 30 and type(task["timeout"]) is int
    assert task["maxRetries"] == 3 and type(task["maxRetries"]) is int
    assert task["retryCount"] == 0 and type(task["retryCount"]) is int
    assert task["retryBackoff"] == "exponential"
    assert task["priority"] == 5 and type(task["priority"]) is int
    assert task.get("headers", {}) == {}
    for absent in ("body", "delayUntil", "onCompleteUrl", "provider", "pollConfig", "result", "error",
                   "startedAt", "completedAt"):
        assert absent not in task, absent
    assert ISO_MS_Z.match(task["createdAt"]), task["createdAt"]
    created = parse(task["createdAt"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)


def test_get_returns_the_created_task(shared: Client) -> None:
    created = shared.create_ok(PARKED)
    response = shared.get(created["id"])
    assert response.status_code == 200, response.text
    assert response.json() == {"task": created}


def _in_days(days: int, form: str) -> str:
    """A moment `days` ahead (within the 30-day delayUntil limit), written as `form`."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime(form)


def test_create_accepts_every_seed_field(shared: Client) -> None:
    body = {
        "targetUrl": URL,
        "method": "PUT",
        "headers": {"Authorization": "Bearer service-token", "X-Request-Id": "abc-123"},
        "body": '{"action": "process", "data": {"id": 123}}',
        "maxWaitTime": 120,
        "timeout": 10,
        "delayUntil": _in_days(10, "%Y-%m-%dT%H:%M:%S.089Z"),
        "maxRetries": 10,
        "retryBackoff": "linear",
        "priority": 8,
        "onCompleteUrl": "https://api.example.com/task-complete",
        "provider": "replicate",
        "pollConfig": {
            "urlTemplate": "https://api.replicate.com/v1/predictions/{id}",
            "statusPath": "status",
            "doneValues": ["succeeded"],
            "failValues": ["failed", "canceled"],
        },
    }
    response = shared.create(body)

    assert response.status_code == 201, response.text
    task = response.json()["task"]
    for name, value in body.items():
        if name == "pollConfig":
            assert {k: task[name][k] for k in value} == value
        elif name == "delayUntil":
            assert parse(task[name]) == parse(value)
        else:
            assert task[name] == value, name
    assert task["status"] == "delayed"
    assert shared.get(task["id"]).json()["task"] == task


def test_delay_until_in_the_past_is_pending(shared: Client, target: TargetServer) -> None:
    task = shared.create_ok({"targetUrl": target.base + "/ok", "delayUntil": "2020-01-01T00:00:00.000Z"})
    assert task["status"] == "pending"
    assert parse(task["delayUntil"]) == parse("2020-01-01T00:00:00.000Z")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_create_accepts_each_seed_method(shared: Client, method: str) -> None:
    assert shared.create_ok({**PARKED, "method": method})["method"] == method


@pytest.mark.parametrize("delay_until", [FAR_FUTURE, _in_days(12, "%Y-%m-%dT12:00:00+02:00"),
                                         _in_days(12, "%Y-%m-%dT10:00:00.250Z")])
def test_delay_until_in_the_future_makes_the_task_delayed(shared: Client, delay_until: str) -> None:
    task = shared.create_ok({**PARKED, "delayUntil": delay_until})
    assert task["status"] == "delayed"
    assert parse(task["delayUntil"]) == datetime.fromisoformat(delay_until.replace("Z", "+00:00"))
    assert shared.get(task["id"]).json()["task"]["status"] == "delayed"


def test_delay_until_a_few_seconds_ahead_is_delayed(shared: Client) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert shared.create_ok({**PARKED, "delayUntil": soon})["status"] == "delayed"


# ---- authentication ---------------------------------------------------------------------------


def _every_route(client: Client, task_id: str) -> list[requests.Response]:
    return [
        client.create(PARKED),
        client.list(),
        client.get(task_id),
        client.get(task_id, wait=1),
        client.cancel(task_id),
    ]


def test_no_api_key_is_401_api_key_required(team: Client, anonymous: Client) -> None:
    task = team.create_ok(PARKED)
    for response in _every_route(anonymous, task["id"]):
        assert_error(response, 401, "API key required")
    assert team.total() == 1
    assert team.task(task["id"]) == task


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "th_only_the_key"])
def test_a_malformed_authorization_header_is_401_api_key_required(stack: Stack, authorization: str) -> None:
    response = requests.get(stack.url + "/v1/tasks", headers={"Authorization": authorization}, timeout=10)
    assert_error(response, 401, "API key required")


def test_a_wrong_api_key_is_401_invalid_or_revoked(stack: Stack, team: Client) -> None:
    task = team.create_ok(PARKED)
    wrong = stack.client("th_" + "x" * 43)
    for response in _every_route(wrong, task["id"]):
        assert_error(response, 401, "Invalid or revoked API key")
    assert team.total() == 1
    assert team.task(task["id"]) == task


def test_a_revoked_api_key_is_401_invalid_or_revoked(stack: Stack, team: Client) -> None:
    task = team.create_ok(PARKED)
    second = stack.create_key(team.team, name="to revoke")
    client = stack.client(second["apiKey"])
    assert client.get(task["id"]).status_code == 200  # works before it is revoked

    stack.revoke_key(second["keyId"])

    for response in _every_route(client, task["id"]):
        assert_error(response, 401, "Invalid or revoked API key")
    assert team.task(task["id"]) == task  # the team's other key still works; nothing was cancelled
    assert team.total() == 1


def test_revoking_an_unknown_key_fails_cleanly(stack: Stack) -> None:
    done = stack.cli("keys", "revoke", "key_000000000000", check=False)
    assert done.returncode != 0
    assert "not found" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_the_dev_key_printed_by_the_stack_works(stack: Stack) -> None:
    assert stack.dev_key
    response = stack.client(stack.dev_key).list()
    assert response.status_code == 200, response.text


# ---- teams ------------------------------------------------------------------------------------


def test_another_teams_task_is_403_access_denied(team: Client, other_team: Client) -> None:
    task = team.create_ok(PARKED)

    assert_error(other_team.get(task["id"]), 403, "Access denied")
    assert_error(other_team.get(task["id"], wait=1), 403, "Access denied")
    assert_error(other_team.cancel(task["id"]), 403, "Access denied")

    listed = other_team.list().json()
    assert listed["tasks"] == [] and other_team.total() == 0
    assert other_team.list(status="delayed").json()["tasks"] == []
    assert team.task(task["id"]) == task  # still delayed, not cancelled


def test_keys_of_the_same_team_share_its_tasks(stack: Stack, team: Client) -> None:
    task = team.create_ok(PARKED)
    colleague = stack.client(stack.create_key(team.team)["apiKey"])
    assert colleague.get(task["id"]).json()["task"]["id"] == task["id"]
    assert [t["id"] for t in colleague.list().json()["tasks"]] == [task["id"]]


@pytest.mark.parametrize("task_id", ["5f0c6d1e-8a43-4f55-9d7e-2f1b3c4d5e6f", "not-a-uuid", "x" * 200])
def test_an_unknown_task_is_404_task_not_found(shared: Client, task_id: str) -> None:
    assert_error(shared.get(task_id), 404, "Task not found")
    assert_error(shared.cancel(task_id), 404, "Task not found")


# ---- cancel -----------------------------------------------------------------------------------


def test_cancel_a_pending_task(shared: Client, target: TargetServer) -> None:
    task = park_pending(shared, target)
    assert task["status"] == "pending"

    response = shared.cancel(task["id"])

    assert response.status_code == 200, response.text
    cancelled = response.json()["task"]
    assert cancelled["id"] == task["id"]
    assert cancelled["status"] == "cancelled"
    assert ISO_MS_Z.match(cancelled["completedAt"])
    assert parse(cancelled["completedAt"]) >= parse(task["createdAt"])
    assert cancelled["createdAt"] == task["createdAt"]
    assert cancelled["targetUrl"] == task["targetUrl"]
    assert shared.get(task["id"]).json()["task"] == cancelled


def test_cancel_a_delayed_task(team: Client) -> None:
    task = team.create_ok(PARKED)
    response = team.cancel(task["id"])
    assert response.status_code == 200, response.text
    cancelled = response.json()["task"]
    assert cancelled["status"] == "cancelled" and ISO_MS_Z.match(cancelled["completedAt"])
    assert team.total(status="delayed") == 0
    assert [t["id"] for t in team.list(status="cancelled").json()["tasks"]] == [task["id"]]


def test_cancel_twice_is_409_and_changes_nothing(shared: Client) -> None:
    task = shared.create_ok(PARKED)
    first = shared.cancel(task["id"]).json()["task"]

    message = assert_error(shared.cancel(task["id"]), 409)

    assert "cancelled" in message
    assert shared.get(task["id"]).json()["task"] == first


def test_a_completed_task_runs_once_and_cannot_be_cancelled(shared: Client, target: TargetServer) -> None:
    url = f"{target.base}/ok?task={uuid.uuid4().hex}"
    task = shared.create_ok({"targetUrl": url, "method": "PUT", "body": '{"n": 1}', "headers": {"X-Test": "yes"}})

    done = shared.wait_until(task["id"], lambda t: t["status"] in ("completed", "failed", "timeout"))

    assert done["status"] == "completed", done
    assert done["result"]["statusCode"] == 200
    assert ISO_MS_Z.match(done["completedAt"]) and ISO_MS_Z.match(done["startedAt"])
    calls = [c for c in target.calls("/ok") if c.path == url[len(target.base):]]
    assert len(calls) == 1
    assert calls[0].method == "PUT" and calls[0].body == b'{"n": 1}'
    assert calls[0].headers.get("X-Test") == "yes"
    message = assert_error(shared.cancel(task["id"]), 409)
    assert "completed" in message
    assert shared.task(task["id"]) == done


def test_cancel_ignores_a_request_body(shared: Client) -> None:
    task = shared.create_ok(PARKED)
    response = shared.request("POST", f"/v1/tasks/{task['id']}/cancel", json={"reason": "no longer needed"})
    assert response.status_code == 200, response.text
    assert response.json()["task"]["status"] == "cancelled"


def test_concurrent_creates_each_store_their_own_body(team: Client) -> None:
    """Chalice's local server handles requests in threads; each must see its own request."""
    from concurrent.futures import ThreadPoolExecutor

    def create(n: int) -> tuple[str, dict]:
        body = f'{{"n": {n}}}'
        return body, team.create_ok({"targetUrl": f"http://127.0.0.1:9/{n}", "body": body, "delayUntil": FAR_FUTURE})

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(create, range(64)))
    assert all(task["body"] == body and task["targetUrl"].endswith("/" + body[6:-1]) for body, task in results)
    for body, task in results[:8]:
        assert team.get(task["id"]).json()["task"]["body"] == body
