"""The Token Vault through the local stack, the way a client and an operator use it (issue 13,
items 1-3 and 7): a stored secret reaches the target in place of its `tok_…` reference and nowhere
else (task views, list, long poll, seed 000/003 views, notifications, WebSocket pushes, the
emulator's tables and the outputs bucket); rotation and deletion take effect for the next task;
another team's token is 404 and unknown at create; names stay unique under creates at once; and
`bin/taskhook vault …` does the same from the operator's side."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from websockets.asyncio.client import connect

from tests.e2e.conftest import ROOT, Client, Stack, clean_env
from tests.e2e.test_execution import wait_terminal
from tests.support.targets import TargetServer


def new_secret(label: str) -> str:
    return f"sk-{label}-{uuid.uuid4().hex}"


def store(team: Client, name: str, value: str) -> dict[str, Any]:
    response = team.request("POST", "/v1/tokens", json={"name": name, "value": value})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["id"].startswith("tok_") and token["preview"] == "****" + value[-4:]
    assert value not in response.text
    return dict(token)


def aws(stack: Stack, service: str) -> Any:
    env = stack.state["env"]
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=env.get("AWS_SESSION_TOKEN"))


def everything_stored(stack: Stack) -> bytes:
    """Every item of every table and every object of the outputs bucket, as bytes."""
    ddb, s3 = aws(stack, "dynamodb"), aws(stack, "s3")
    parts: list[bytes] = []
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            parts.append(repr(page["Items"]).encode())
            parts.extend(v["B"] for item in page["Items"] for v in item.values() if "B" in v)
    bucket = stack.state["env"]["OUTPUTS_BUCKET"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            parts.append(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return b"\n".join(parts)


def test_a_stored_secret_reaches_the_target_and_nothing_else_shows_it(stack: Stack, team: Client,
                                                                      target: TargetServer) -> None:
    secret = new_secret("replicate")
    token = store(team, "replicate", secret)
    done = target.url(f"/vault-done-{token['id']}", [200])
    hook = target.url(f"/vault-hook-{token['id']}", [200])
    headers = {"Authorization": f"Bearer {token['id']}", "X-Api-Key": token["id"]}
    created: dict[str, Any] = {}

    def create() -> None:
        created.update(team.create_ok({"targetUrl": hook, "headers": headers, "onCompleteUrl": done}))

    async def watch() -> list[str]:
        out: list[str] = []
        async with connect(f"{stack.state['websocket']}/ws?api_key={team.key}") as ws:
            await asyncio.to_thread(create)
            async with asyncio.timeout(30):
                async for raw in ws:
                    out.append(str(raw))
                    frame = json.loads(raw)
                    if frame.get("task_id") == created["id"] and frame.get("status") == "completed":
                        break
        return out

    frames = asyncio.run(watch())
    assert created["headers"] == headers  # the task keeps the reference
    task = wait_terminal(team, created["id"])
    assert task["status"] == "completed", task
    (call,) = target.calls(f"/vault-hook-{token['id']}")
    assert call.headers["Authorization"] == f"Bearer {secret}" and call.headers["X-Api-Key"] == secret

    (notified,) = target.wait_for_calls(f"/vault-done-{token['id']}", 1, timeout=20)
    views = [
        team.get(created["id"]).text, team.get(created["id"], wait=1).text, team.list().text,
        team.request("GET", f"/tasks/{created['id']}").text,
        team.request("GET", f"/api/any/task/result/{created['id']}").text,
        team.request("GET", "/v1/tokens").text, team.request("GET", f"/v1/tokens/{token['id']}").text,
        notified.body.decode(), *frames,
    ]
    assert any(token["id"] in view for view in views[:3])
    assert any(created["id"] in frame for frame in frames)
    for view in views:
        assert secret not in view
    assert json.loads(views[0])["task"]["headers"] == headers
    stored = everything_stored(stack)
    assert token["id"].encode() in stored and created["id"].encode() in stored  # the scan sees the task
    assert secret.encode() not in stored
    logs = b"".join(path.read_bytes() for path in stack.state_dir.glob("*.log"))
    assert created["id"].encode() in logs and secret.encode() not in logs


def test_rotation_is_used_by_the_next_task_and_deletion_fails_it_without_a_call(team: Client,
                                                                               target: TargetServer) -> None:
    first, second = new_secret("one"), new_secret("two")
    token = store(team, "fal", first)
    path = f"/vault-rotate-{token['id']}"
    url = target.url(path, [200])
    body = {"targetUrl": url, "headers": {"Authorization": f"Key {token['id']}"}}
    assert wait_terminal(team, team.create_ok(body)["id"])["status"] == "completed"

    rotated = team.request("PUT", f"/v1/tokens/{token['id']}", json={"value": second})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token"]["preview"] == "****" + second[-4:] and second not in rotated.text
    assert wait_terminal(team, team.create_ok(body)["id"])["status"] == "completed"
    assert [c.headers["Authorization"] for c in target.calls(path)] == [f"Key {first}", f"Key {second}"]

    later = team.create_ok({**body, "delayUntil": _in_seconds(3)})
    deleted = team.request("DELETE", f"/v1/tokens/{token['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True, deleted.text
    failed = wait_terminal(team, later["id"])
    assert failed["status"] == "failed", failed
    assert failed["error"] == (f"Token {token['id']} not found (deleted?): header Authorization not sent, "
                               "no request made")
    assert len(target.calls(path)) == 2  # no call for the task whose token was gone
    assert team.request("GET", f"/v1/tokens/{token['id']}").status_code == 404
    unknown = team.create(body)
    assert unknown.status_code == 400 and unknown.json() == {"error": f"Unknown token {token['id']}"}


def _in_seconds(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_token_bound_to_hosts_goes_to_no_other_host(team: Client, target: TargetServer) -> None:
    """Any key of the team that creates tasks could name a token and aim the task at its own
    server, which then read the secret (attacker review). A token with `hosts` goes to those only:
    another host is refused at create, and a task created before the token was bound fails
    without a request."""
    secret = new_secret("bound")
    made = team.request("POST", "/v1/tokens", json={"name": "bound", "value": secret, "hosts": ["127.0.0.1"]})
    assert made.status_code == 201 and made.json()["token"]["hosts"] == ["127.0.0.1"], made.text
    token = made.json()["token"]
    path = f"/vault-bound-{token['id']}"
    body = {"targetUrl": target.url(path, [200]), "headers": {"Authorization": f"Bearer {token['id']}"}}
    assert wait_terminal(team, team.create_ok(body)["id"])["status"] == "completed"
    assert [c.headers["Authorization"] for c in target.calls(path)] == [f"Bearer {secret}"]

    elsewhere = team.create({**body, "targetUrl": body["targetUrl"].replace("127.0.0.1", "localhost")})
    assert elsewhere.status_code == 400, elsewhere.text
    assert elsewhere.json() == {"error": f"Token {token['id']} may not be sent to localhost: it is bound to "
                                         "other hosts"}

    later = team.create_ok({**body, "delayUntil": _in_seconds(3)})
    rebound = team.request("PUT", f"/v1/tokens/{token['id']}", json={"hosts": ["api.example.com"]})
    assert rebound.status_code == 200 and rebound.json()["token"]["hosts"] == ["api.example.com"], rebound.text
    assert rebound.json()["token"]["preview"] == token["preview"]  # the value is kept
    failed = wait_terminal(team, later["id"])
    assert failed["status"] == "failed", failed
    assert failed["error"] == (f"Token {token['id']} may not be sent to 127.0.0.1: it is bound to other hosts: "
                               "header Authorization not sent, no request made")
    assert len(target.calls(path)) == 1  # no call for it
    bad = team.request("PUT", f"/v1/tokens/{token['id']}", json={"hosts": ["https://api.example.com/"]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("hosts must be a list of 1 to 20 host names")


def test_another_teams_token_is_not_found_and_unknown_at_create(team: Client, other_team: Client) -> None:
    token = store(team, "partner", new_secret("partner"))
    for method, body in (("GET", None), ("PUT", {"value": "x" * 20}), ("DELETE", None)):
        answer = other_team.request(method, f"/v1/tokens/{token['id']}", json=body)
        assert answer.status_code == 404 and answer.json() == {"error": "Token not found"}, answer.text
    refused = other_team.create({"targetUrl": "https://example.com/",
                                 "headers": {"Authorization": f"Bearer {token['id']}"}})
    assert refused.status_code == 400 and refused.json() == {"error": f"Unknown token {token['id']}"}
    assert other_team.total() == 0
    assert team.request("GET", f"/v1/tokens/{token['id']}").status_code == 200


def test_bad_input_is_a_clear_400_and_stores_nothing(team: Client) -> None:
    for body, message in (
        ({"name": "x", "value": "a\r\nX-Evil: 1"}, "no control characters"),
        ({"name": "x", "value": "v" * 4097}, "at most 4096 bytes"),
        ({"name": "x"}, "value is required"),
        ({"name": "x", "value": "abcdefgh", "extra": 1}, "Unknown field: extra"),
    ):
        answer = team.request("POST", "/v1/tokens", json=body)
        assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    assert team.request("GET", "/v1/tokens").json() == {"tokens": []}


def test_creates_at_once_keep_the_name_unique(team: Client) -> None:
    def create(i: int) -> int:
        return team.request("POST", "/v1/tokens", json={"name": "same", "value": f"value-{i}-abcdefgh"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(create, range(8)))
    assert codes == [201] + [409] * 7
    assert len(team.request("GET", "/v1/tokens").json()["tokens"]) == 1


def cli(stack: Stack, *args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "infra.cli", "vault", *args], cwd=ROOT, input=stdin,
                          env=clean_env(stack.state_dir), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_operator_command_manages_a_teams_vault(stack: Stack, team: Client, target: TargetServer) -> None:
    secret, rotated = new_secret("cli"), new_secret("cli2")
    made = cli(stack, "create", "--team", team.team, "--name", "from-cli", stdin=secret + "\n")["token"]
    assert made["preview"] == "****" + secret[-4:]
    listed = cli(stack, "list", "--team", team.team)["tokens"]
    assert [t["id"] for t in listed] == [made["id"]]
    cli(stack, "rotate", "--team", team.team, made["id"], stdin=rotated)
    url = target.url(f"/vault-cli-{made['id']}", [200])
    task = team.create_ok({"targetUrl": url, "headers": {"Authorization": f"Bearer {made['id']}"}})
    assert wait_terminal(team, task["id"])["status"] == "completed"
    assert target.calls(f"/vault-cli-{made['id']}")[0].headers["Authorization"] == f"Bearer {rotated}"
    assert cli(stack, "delete", "--team", team.team, made["id"])["token"]["deleted"] is True
    assert cli(stack, "list", "--team", team.team)["tokens"] == []
    bound = cli(stack, "create", "--team", team.team, "--name", "bound", "--host", "api.example.com",
                "--host", "API.fal.run", stdin=secret)["token"]
    assert bound["hosts"] == ["api.example.com", "api.fal.run"] and made["hosts"] is None
