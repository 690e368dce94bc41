"""waitForCallback through the local stack, the way a client and its worker use it (docs/waiting.md):
the target gets a one-time URL under the stack's own API URL, answers 202, and the task waits
(the WebSocket feed shows `waiting`) until the worker POSTs to that URL; a replay is refused; a
never-called one times out; cancel and `POST /v1/tasks/{id}/complete` end it too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook
from websockets.asyncio.client import connect

from tests.e2e.conftest import Client, Stack
from tests.support.targets import TargetServer

HEADER = "Taskhook-Callback-Url"
NOT_FOUND = {"error": "Callback not found"}


@pytest.fixture(scope="module")
def worker() -> Iterator[TargetServer]:
    """The customer's job endpoint: accepts the work with a 202 and keeps the callback URL."""
    with TargetServer() as server:
        yield server


def accept(worker: TargetServer, path: str) -> str:
    return worker.url(path, [{"status": 202, "body": '{"accepted": true}'}])


def callback_url(worker: TargetServer, path: str) -> str:
    (call,) = worker.wait_for_calls(path, 1, timeout=20)
    return call.headers[HEADER]


def post(url: str, body: Any) -> tuple[int, Any]:
    answer = requests.post(url, json=body, timeout=30)  # no API key: the URL is the credential
    return answer.status_code, answer.json()


def test_a_waiting_task_is_completed_by_its_callback_url_once(team: Client, stack: Stack,
                                                              worker: TargetServer) -> None:
    done = worker.url("/done", [200])
    ws_url = f"{stack.state['websocket']}/ws?api_key={team.key}"

    async def watch() -> tuple[list[str], str, str, tuple[int, Any]]:
        statuses: list[str] = []
        async with connect(ws_url) as ws:
            task = await asyncio.to_thread(team.create_ok, {
                "targetUrl": accept(worker, "/render"), "waitForCallback": True, "onCompleteUrl": done})
            url = ""
            answer: tuple[int, Any] = (0, None)
            async with asyncio.timeout(40):
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("task_id") != task["id"]:
                        continue
                    statuses.append(message["status"])
                    if message["status"] == "waiting":
                        url = await asyncio.to_thread(callback_url, worker, "/render")
                        answer = await asyncio.to_thread(
                            post, url, {"status": "completed", "result": {"frames": 240}})
                    if message["status"] == "completed":
                        break
        return statuses, task["id"], url, answer

    statuses, task_id, url, (status, body) = asyncio.run(watch())

    assert statuses[0] == "pending" and "waiting" in statuses and statuses[-1] == "completed", statuses
    assert statuses.index("waiting") < statuses.index("completed")
    assert url.startswith(f"{stack.url}/v1/callbacks/{task_id}/"), url
    assert status == 200 and body["task"]["status"] == "completed" and body["task"]["result"] == {"frames": 240}
    assert team.task(task_id)["result"] == {"frames": 240}
    # onCompleteUrl gets the finished task, signed as every notification.
    (call,) = worker.wait_for_calls("/done", 1, timeout=20)
    secret = team.request("GET", "/v1/webhooks/secret").json()["secrets"][0]["secret"]
    assert Webhook(secret).verify(call.body, call.headers)["task"]["status"] == "completed"
    # The URL is spent: a replay changes nothing.
    assert post(url, {"status": "failed", "error": "replayed"}) == (
        409, {"error": "Callback already used or task no longer waiting: status is completed"})
    assert team.task(task_id)["status"] == "completed"


def test_a_wrong_secret_and_an_unknown_task_are_the_same_404(team: Client, stack: Stack,
                                                            worker: TargetServer) -> None:
    task = team.create_ok({"targetUrl": accept(worker, "/wrong"), "waitForCallback": True, "maxWaitTime": 600})
    team.wait_until(task["id"], lambda t: t["status"] == "waiting")
    url = callback_url(worker, "/wrong")
    base, secret = url.rsplit("/", 1)
    other = ("A" if secret[0] != "A" else "B") + secret[1:]

    assert post(f"{base}/{other}", {"status": "completed"}) == (404, NOT_FOUND)
    assert post(f"{stack.url}/v1/callbacks/0b5e2f7e-1c1d-4b8a-9f51-6c1a2e3d4f50/{secret}",
                {"status": "completed"}) == (404, NOT_FOUND)
    assert post(url, {"status": "finished"}) == (400, {"error": "status must be one of: completed, failed"})
    assert team.task(task["id"])["status"] == "waiting"
    assert team.cancel(task["id"]).json()["task"]["status"] == "cancelled"
    assert post(url, {"status": "completed"}) == (
        409, {"error": "Callback already used or task no longer waiting: status is cancelled"})


def test_a_callback_that_never_comes_times_out(team: Client, worker: TargetServer) -> None:
    task = team.create_ok({"targetUrl": accept(worker, "/forgotten"), "waitForCallback": True, "maxWaitTime": 2})
    team.wait_until(task["id"], lambda t: t["status"] in ("waiting", "timeout"))
    ended = team.wait_until(task["id"], lambda t: t["status"] == "timeout", timeout=30)
    assert ended["error"] == "maxWaitTime of 2s exceeded"
    assert post(callback_url(worker, "/forgotten"), {"status": "completed"}) == (
        409, {"error": "Callback already used or task no longer waiting: status is timeout"})


def test_the_team_completes_a_waiting_task_with_its_key(team: Client, other_team: Client,
                                                       worker: TargetServer) -> None:
    task = team.create_ok({"targetUrl": accept(worker, "/by-key"), "waitForCallback": True, "maxWaitTime": 600})
    team.wait_until(task["id"], lambda t: t["status"] == "waiting")
    body = {"status": "failed", "error": "GPU quota exceeded"}

    refused = other_team.request("POST", f"/v1/tasks/{task['id']}/complete", json=body)
    assert (refused.status_code, refused.json()) == (403, {"error": "Access denied"})
    answer = team.request("POST", f"/v1/tasks/{task['id']}/complete", json=body)
    assert answer.status_code == 200
    assert (answer.json()["task"]["status"], answer.json()["task"]["error"]) == ("failed", "GPU quota exceeded")
    again = team.request("POST", f"/v1/tasks/{task['id']}/complete", json=body)
    assert (again.status_code, again.json()) == (
        409, {"error": "Task is not waiting for a callback: status is failed"})


def test_callback_secrets_never_reach_the_api_log(team: Client, stack: Stack, worker: TargetServer) -> None:
    task = team.create_ok({"targetUrl": accept(worker, "/logged"), "waitForCallback": True, "maxWaitTime": 600})
    team.wait_until(task["id"], lambda t: t["status"] == "waiting")
    url = callback_url(worker, "/logged")
    secret = url.rsplit("/", 1)[1]
    assert post(url, {"status": "completed"})[0] == 200
    assert post(url, {"status": "completed"})[0] == 409

    log = (stack.state_dir / "api.log").read_text(errors="replace")
    assert f"/v1/callbacks/{task['id']}/…" in log
    assert secret not in log


def test_of_callbacks_racing_with_one_url_exactly_one_wins(team: Client, worker: TargetServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    task = team.create_ok({"targetUrl": accept(worker, "/raced"), "waitForCallback": True, "maxWaitTime": 600})
    team.wait_until(task["id"], lambda t: t["status"] == "waiting")
    url = callback_url(worker, "/raced")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: post(url, {"status": "completed", "result": n}), range(8)))

    winners = [body for status, body in answers if status == 200]
    assert len(winners) == 1, answers
    assert sorted(status for status, _ in answers) == [200] + [409] * 7, answers
    assert team.task(task["id"])["result"] == winners[0]["task"]["result"]
