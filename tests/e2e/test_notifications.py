"""Notifications through the local stack: seed 000 callbacks, onCompleteUrl, Standard Webhooks
signatures with the team's secret, retries of a failing receiver, and live WebSocket monitoring."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from websockets.asyncio.client import connect

from tests.e2e.conftest import ON_LOCALSTACK, Client, Stack, localstack_defect
from tests.e2e.test_execution import wait_terminal
from tests.support.targets import Call, TargetServer


@pytest.fixture(scope="module")
def receiver() -> Iterator[TargetServer]:
    with TargetServer() as server:
        yield server


def query(call: Call) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(call.path).query, keep_blank_values=True)


def secrets_of(team: Client) -> list[str]:
    response = team.request("GET", "/v1/webhooks/secret")
    assert response.status_code == 200, response.text
    return [s["secret"] for s in response.json()["secrets"]]


def start_function_task(team: Client, callback_url: str, task_name: str = "example_task.task1",
                        task_data: Any = None) -> str:
    body: dict[str, Any] = {"task_name": task_name, "task_data": task_data or {}}
    if callback_url:
        body["callback_url"] = callback_url
    response = team.request("POST", "/tasks/create", json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["task_id"])


@localstack_defect("(b) an UpdateItem stream record can carry a stale old image, and LocalStack also streams "
                   "no-op updates: such a record looks like the claim again (a second 'processing' callback); "
                   "docs/localstack")
def test_callback_url_gets_every_status_in_order_with_its_own_parameters(team: Client, receiver: TargetServer) -> None:
    url = receiver.url("/cb", [200])
    task_id = start_function_task(team, url + "?custom=1234")
    wait_terminal(team, task_id)
    calls = receiver.wait_for_calls("/cb", 3, timeout=20)
    statuses = [dict(query(c))["status"] for c in calls]
    assert statuses == ["pending", "processing", "completed"]
    for call in calls:
        params = query(call)
        assert params[0] == ("custom", "1234")  # the URL's own parameter stays, first
        assert dict(params)["task_id"] == task_id
        assert call.method == "POST"
        assert json.loads(call.body)["task_id"] == task_id


def test_notifications_are_signed_with_the_teams_secret(team: Client, receiver: TargetServer) -> None:
    url = receiver.url("/signed", [200])
    task_id = start_function_task(team, url)
    wait_terminal(team, task_id)
    call = receiver.wait_for_calls("/signed", 3, timeout=20)[-1]
    (secret,) = secrets_of(team)
    assert secret.startswith("whsec_")
    assert Webhook(secret).verify(call.body, call.headers)["task_id"] == task_id
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(call.body, call.headers)
    tampered = call.body.replace(b"completed", b"failed")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, call.headers)


def test_on_complete_url_receives_the_task_once_it_is_terminal(team: Client, receiver: TargetServer) -> None:
    target = receiver.url("/work", [200])
    done_url = receiver.url("/done", [200])
    task = team.create_ok({"targetUrl": target, "onCompleteUrl": done_url})
    wait_terminal(team, task["id"])
    (call,) = receiver.wait_for_calls("/done", 1, timeout=20)
    body = Webhook(secrets_of(team)[0]).verify(call.body, call.headers)
    assert body["task"]["id"] == task["id"] and body["task"]["status"] == "completed"
    time.sleep(1)
    assert len(receiver.calls("/done")) == 1


def test_a_failing_receiver_gets_the_notification_on_the_third_attempt(team: Client, receiver: TargetServer) -> None:
    done_url = receiver.url("/flaky-receiver", [500, 500, 200])
    task = team.create_ok({"targetUrl": receiver.url("/work2", [200]), "onCompleteUrl": done_url})
    wait_terminal(team, task["id"])
    # LocalStack defect (a), docs/localstack: while another task's notification is in flight, a
    # retry's message can come back up to one visibility timeout (60 s) late, for each retry.
    calls = receiver.wait_for_calls("/flaky-receiver", 3, timeout=40 + (2 * 60 if ON_LOCALSTACK else 0))
    assert len(calls) == 3
    assert calls[1].headers["webhook-id"] == calls[0].headers["webhook-id"]  # the same message, retried
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        notes = team.get(task["id"]).json()["task"].get("notifications", [])
        if notes and notes[0]["status"] == "delivered":
            break
        time.sleep(0.3)
    assert notes == [{"id": notes[0]["id"], "url": done_url, "kind": "onComplete", "status": "delivered",
                      "attempts": 3, "taskStatus": "completed", "sequence": notes[0]["sequence"]}]


def test_rotation_keeps_both_secrets_valid(team: Client, receiver: TargetServer) -> None:
    (old,) = secrets_of(team)
    rotated = team.request("POST", "/v1/webhooks/secret/rotate")
    assert rotated.status_code == 200, rotated.text
    new, previous = [s["secret"] for s in rotated.json()["secrets"]]
    assert previous == old and new != old and "expiresAt" in rotated.json()["secrets"][1]
    url = receiver.url("/rotated", [200])
    task = team.create_ok({"targetUrl": receiver.url("/work3", [200]), "onCompleteUrl": url})
    wait_terminal(team, task["id"])
    (call,) = receiver.wait_for_calls("/rotated", 1, timeout=20)
    for secret in (old, new):
        assert Webhook(secret).verify(call.body, call.headers)["task"]["id"] == task["id"]


def test_websocket_client_sees_a_function_task_live(team: Client, stack: Stack) -> None:
    ws_url = f"{stack.state['websocket']}/ws?api_key={team.key}"

    async def watch() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with connect(ws_url) as ws:
            task_id = await asyncio.to_thread(start_function_task, team, "", "example_task.task1")
            async with asyncio.timeout(30):
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("task_id") == task_id:
                        seen.append(message)
                        if message["status"] == "completed":
                            return seen
        return seen

    seen = asyncio.run(watch())
    statuses = [m["status"] for m in seen]
    assert statuses[0] == "pending" and statuses[-1] == "completed"
    assert "processing" in statuses
    progress = [m["progress"] for m in seen if m["status"] == "processing" and m.get("progress")]
    assert progress == sorted(progress) and len(progress) >= 2, seen
    assert seen[-1]["result"] == "<Task1 Result>"


def test_websocket_refuses_a_bad_key(stack: Stack) -> None:
    from websockets.exceptions import InvalidStatus

    async def attempt() -> int:
        try:
            async with connect(f"{stack.state['websocket']}/ws?api_key=th_wrong"):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt()) == 401


def test_a_client_token_watches_its_own_tasks_and_a_closed_connection_is_forgotten(team: Client, stack: Stack) -> None:
    import boto3

    token = stack.create_client_token(team.team)["clientToken"]
    ws_url = f"{stack.state['websocket']}/ws/example_task/tasks/{token}"  # seed 003's path: the token alone

    def start(with_token: bool) -> str:
        path = f"/api/example_task/tasks/{token}/start/task1" if with_token else "/api/example_task/task/start/task1"
        response = team.request("POST", path, json={})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["task_id"])

    async def watch() -> tuple[set[str], str, str]:
        seen: set[str] = set()
        async with connect(ws_url) as ws:
            other = await asyncio.to_thread(start, False)  # same team, no token: not this client's
            mine = await asyncio.to_thread(start, True)
            async with asyncio.timeout(30):
                async for raw in ws:
                    message = json.loads(raw)
                    seen.add(message["task_id"])
                    if message["task_id"] == mine and message["status"] == "completed":
                        break
        return seen, mine, other

    seen, mine, other = asyncio.run(watch())
    assert mine in seen and other not in seen
    # After the client went away, its subscription rows are gone.
    env = stack.state["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    deadline = time.monotonic() + 10
    rows: list[Any] = [None]
    while rows and time.monotonic() < deadline:
        rows = ddb.scan(TableName=env["CONNECTIONS_TABLE"], FilterExpression="begins_with(topic, :t)",
                        ExpressionAttributeValues={":t": {"S": "client#"}})["Items"]
        time.sleep(0.3)
    assert rows == []
