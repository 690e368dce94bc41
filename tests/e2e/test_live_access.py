"""Who may watch what over the WebSocket, through the local stack (issue 11, items 1 and 3).

Item 1: a `subscribe` message on a connection opened with a client token adds only that client's
tasks; on one opened with an API key, only its team's. Every refusal is the same answer, so that
it cannot tell a task that exists elsewhere from one that does not.

Item 3: revoking the key or client token that opened a connection closes it within seconds,
whichever process revokes it (here the operator command, a process of its own); and a credential
revoked behind the live feed's back (its row written directly, as a revoke whose disconnect failed
would leave it) ends the connection at its next push or message.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from taskhook.intake.api_keys import hash_key
from tests.e2e.conftest import Client, Stack, park_pending
from tests.support.targets import TargetServer

CLOSE_WITHIN = 15.0  # seconds: a bound for the test to fail on, not a measurement
REFUSED = {"error": "Task not found"}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def until_closed(ws: ClientConnection, within: float = CLOSE_WITHIN) -> list[dict[str, Any]]:
    """Read until the server closes the connection; what arrived meanwhile. Fails on timeout."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        try:
            async for raw in ws:
                seen.append(json.loads(raw))
        except ConnectionClosed:
            pass
    return seen


async def answer_to(ws: ClientConnection, message: dict[str, Any], within: float = 10.0) -> dict[str, Any]:
    """Send one message and return the first frame that is not a push (pushes carry a task_id)."""
    await ws.send(json.dumps(message))
    async with asyncio.timeout(within):
        async for raw in ws:
            frame = json.loads(raw)
            if "error" in frame:
                return dict(frame)
    raise AssertionError("the connection closed without answering")


def start_with_token(team: Client, token: str) -> str:
    response = team.request("POST", f"/api/example_task/tasks/{token}/start/task1", json={})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["task_id"])


def connections_table(stack: Stack) -> tuple[Any, str]:
    env = stack.state["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return ddb, env["CONNECTIONS_TABLE"]


def rows_of_team(stack: Stack, team: str) -> list[dict[str, Any]]:
    ddb, table = connections_table(stack)
    return list(ddb.scan(TableName=table, FilterExpression="teamId = :t",
                         ExpressionAttributeValues={":t": {"S": team}})["Items"])


# ---- item 1: a subscribe only adds what the connection may watch --------------------------------

def test_a_client_token_cannot_subscribe_to_a_task_of_its_team_that_is_not_its_clients(
        team: Client, other_team: Client, stack: Stack, target: TargetServer) -> None:
    token = stack.create_client_token(team.team)["clientToken"]
    not_mine = park_pending(team, target)["id"]  # started with the team's API key, no client
    theirs = park_pending(other_team, target)["id"]
    ws_url = f"{stack.state['websocket']}/ws/example_task/tasks/{token}"

    async def scenario() -> tuple[list[dict[str, Any]], set[str], str]:
        async with connect(ws_url) as ws:
            answers = [await answer_to(ws, {"action": "subscribe", "task_id": task_id})
                       for task_id in (not_mine, theirs, str(uuid.uuid4()))]
            # A change of the refused task must not reach this socket; the client's own task must.
            cancelled = await asyncio.to_thread(team.cancel, not_mine)
            assert cancelled.status_code == 200, cancelled.text
            mine = await asyncio.to_thread(start_with_token, team, token)
            seen: set[str] = set()
            async with asyncio.timeout(30):
                async for raw in ws:
                    frame = json.loads(raw)
                    seen.add(str(frame.get("task_id")))
                    if frame.get("task_id") == mine and frame.get("status") == "completed":
                        break
            return answers, seen, mine

    answers, seen, mine = run(scenario())
    # One answer whatever the reason: another client's, another team's, no such task.
    assert answers == [REFUSED, REFUSED, REFUSED]
    assert mine in seen and not_mine not in seen and theirs not in seen
    assert not [r for r in rows_of_team(stack, team.team) if r["topic"]["S"] == f"task#{not_mine}"]


def test_an_api_key_cannot_subscribe_to_another_teams_task_nor_tell_it_exists(
        team: Client, other_team: Client, stack: Stack, target: TargetServer) -> None:
    theirs = park_pending(other_team, target)["id"]

    async def scenario() -> list[dict[str, Any]]:
        async with connect(f"{stack.state['websocket']}/ws?api_key={team.key}") as ws:
            return [await answer_to(ws, {"action": "subscribe", "task_id": task_id})
                    for task_id in (theirs, str(uuid.uuid4()))]

    assert run(scenario()) == [REFUSED, REFUSED]
    assert not [r for r in rows_of_team(stack, team.team) if r["topic"]["S"] == f"task#{theirs}"]


def test_subscribe_messages_count_against_the_team_s_rate_limit(team: Client, stack: Stack,
                                                                target: TargetServer) -> None:
    """A team limited to 1 request/s sent 75 subscribe messages a second over one connection (each a
    key read, a task read and writes): a subscribe is a request of the team, as the connect is."""
    task_id = park_pending(team, target)["id"]
    stack.cli("teams", "set-limits", "--team", team.team, "--rps", "1", "--burst", "2")
    time.sleep(1.5)  # a plan applies within a second (test_rate_limits.py)

    async def scenario() -> dict[str, Any]:
        async with connect(f"{stack.state['websocket']}/ws?api_key={team.key}") as ws:  # the connect: one
            for _ in range(5):  # one after the other (0.1 s apart): the limit, not five at once, is tested
                await ws.send(json.dumps({"action": "subscribe", "task_id": task_id}))
                await asyncio.sleep(0.1)
            async with asyncio.timeout(10):
                async for raw in ws:
                    frame = json.loads(raw)
                    if "error" in frame:
                        return dict(frame)
        raise AssertionError("no subscribe was refused")

    try:
        assert run(scenario())["error"].startswith("Rate limit exceeded")
    finally:
        stack.cli("teams", "set-limits", "--team", team.team, "--rps", "0")


# ---- item 3: revocation reaches open connections ------------------------------------------------

def test_revoking_an_api_key_closes_every_connection_it_opened(team: Client, stack: Stack) -> None:
    other_key = stack.create_key(team.team, name="stays")
    base = stack.state["websocket"]

    async def scenario() -> tuple[dict[str, Any], int]:
        async with connect(f"{base}/ws?api_key={team.key}") as first, \
                connect(f"{base}/ws?api_key={team.key}") as second, \
                connect(f"{base}/ws?api_key={other_key['apiKey']}") as survivor:
            await asyncio.to_thread(stack.revoke_key, team.key_id)  # the operator command: another process
            await until_closed(first)
            await until_closed(second)
            # The team's other key keeps its connection, and it still answers.
            answer = await answer_to(survivor, {"action": "subscribe", "task_id": str(uuid.uuid4())})
            rows = await asyncio.to_thread(rows_of_team, stack, team.team)
            return answer, len({r["connectionId"]["S"] for r in rows})

    answer, connections_left = run(scenario())
    assert answer == REFUSED  # an answer, not a closed socket
    assert connections_left == 1


def test_revoking_a_client_token_closes_its_connections(team: Client, stack: Stack) -> None:
    made = stack.create_client_token(team.team)
    ws_url = f"{stack.state['websocket']}/ws/example_task/tasks/{made['clientToken']}"

    async def scenario() -> None:
        async with connect(ws_url) as ws:
            revoked = await asyncio.to_thread(stack.cli, "client-tokens", "revoke", made["tokenId"])
            assert json.loads(revoked.stdout)["revokedAt"]
            await until_closed(ws)

    run(scenario())
    assert rows_of_team(stack, team.team) == []


def revoke_behind_the_feeds_back(stack: Stack, secret: str) -> None:
    """Mark the key revoked in its row only, as a revoke whose disconnect failed would leave it."""
    env = stack.state["env"]
    ddb, _ = connections_table(stack)
    ddb.update_item(TableName=env["API_KEYS_TABLE"], Key={"keyHash": {"S": hash_key(secret)}},
                    UpdateExpression="SET revokedAt = :r",
                    ExpressionAttributeValues={":r": {"S": "2026-01-01T00:00:00.000Z"}})


def test_a_connection_whose_key_was_revoked_elsewhere_ends_at_its_next_message(team: Client, stack: Stack) -> None:
    async def scenario() -> None:
        async with connect(f"{stack.state['websocket']}/ws?api_key={team.key}") as ws:
            await asyncio.to_thread(revoke_behind_the_feeds_back, stack, team.key or "")
            await ws.send(json.dumps({"action": "subscribe", "task_id": str(uuid.uuid4())}))
            seen = await until_closed(ws)
            assert all("task_id" not in frame for frame in seen), seen

    run(scenario())
    assert rows_of_team(stack, team.team) == []


def test_a_connection_whose_key_was_revoked_elsewhere_ends_at_its_next_push(
        team: Client, stack: Stack, target: TargetServer) -> None:
    second = stack.create_key(team.team, name="creates tasks")  # the watcher's own key is revoked
    creator = stack.client(second["apiKey"])

    async def scenario() -> None:
        async with connect(f"{stack.state['websocket']}/ws?api_key={team.key}") as ws:
            await asyncio.to_thread(revoke_behind_the_feeds_back, stack, team.key or "")

            async def keep_changing() -> None:
                while True:
                    await asyncio.to_thread(creator.create_ok, {"targetUrl": target.url("/live-push", [200])})
                    await asyncio.sleep(1)

            changer = asyncio.create_task(keep_changing())
            try:
                # The push side re-verifies a credential at most every few seconds (per process), so
                # a push or two may still arrive before it notices; then the connection ends.
                await until_closed(ws, within=2 * CLOSE_WITHIN)
            finally:
                changer.cancel()

    run(scenario())
    assert rows_of_team(stack, team.team) == []


# ---- issue 16: WebSocket tickets -------------------------------------------------------------------

def test_a_ticket_opens_the_live_feed_once_at_the_url_the_api_names(stack: Stack, team: Client) -> None:
    """The dashboard's way in: a ticket from the API (a tasks key suffices), the URL from the API, the
    ticket taken at the real WebSocket endpoint's $connect, a push received; the same ticket again is 401."""
    from websockets.exceptions import InvalidStatus

    tasks_key = stack.create_key(team.team, name="dashboard", scope="tasks")["apiKey"]
    reader = stack.client(tasks_key)
    answer = reader.request("POST", "/v1/live/tickets")
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["websocketUrl"] == reader.request("GET", "/v1/live").json()["websocketUrl"]
    assert ticket["websocketUrl"].startswith("ws://127.0.0.1:") and ticket["websocketUrl"].endswith("/ws")
    url = f"{ticket['websocketUrl']}?ticket={ticket['ticket']}"

    async def watch() -> str:
        async with connect(url) as ws:
            later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # never runs
            created = reader.request("POST", "/v1/tasks", json={"targetUrl": "https://example.com/x",
                                                                "delayUntil": later})
            assert created.status_code == 201, created.text
            task_id = str(created.json()["task"]["id"])
            async with asyncio.timeout(CLOSE_WITHIN):
                async for raw in ws:
                    if json.loads(raw).get("task_id") == task_id:
                        return task_id
        raise AssertionError("no push")

    task_id = run(watch())
    assert reader.request("POST", f"/v1/tasks/{task_id}/cancel").status_code == 200

    async def again() -> int:
        try:
            async with connect(url):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert run(again()) == 401
