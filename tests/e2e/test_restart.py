"""`make run` keeps its state across restarts (issue 11, item 5): keys, client tokens, webhook
secrets, tasks and stored bodies come back; delayed tasks and tasks between two retries run after
the start, each exactly once; `--fresh` (make run FRESH=1) starts empty. And after a hard crash
(kill -9 of the whole process group) what the last snapshot held comes back too.

Each test starts its own stacks (`python -m infra.local_stack`) on its own state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import STOP_TIMEOUT, Client, Stack, _kill_group, _start_stack, logs_of, needs_embedded_emulator
from tests.support.targets import TargetServer

TERMINAL = {"completed", "failed", "timeout", "cancelled"}
DELAY = 20.0  # seconds: the delayed tasks are due well after the restart
# What comes back is the embedded emulator's snapshot; an external one (LocalStack) keeps its own.
pytestmark = needs_embedded_emulator


def start(state_dir: Path, *args: str) -> Stack:
    process, state = _start_stack(state_dir, *args)
    return Stack(url=state["url"], dev_key=state["devKey"], state=state, state_dir=state_dir, process=process)


def stop(stack: Stack) -> None:
    """SIGTERM, as Ctrl-C on `make run` would: the whole stack stops cleanly."""
    stack.close()
    stack.process.send_signal(signal.SIGTERM)
    try:
        code = stack.process.wait(timeout=STOP_TIMEOUT + 15)  # the runner may drain for 10 s
    except subprocess.TimeoutExpired:
        _kill_group(stack.process)
        pytest.fail(f"the stack ignored SIGTERM:\n{logs_of(stack.state_dir)}", pytrace=False)
    assert code == 0, logs_of(stack.state_dir)


def snapshot_of(stack: Stack) -> dict[str, Any]:
    return json.loads((stack.state_dir / "data" / "snapshot.json").read_text())


def snapshotted_tasks(stack: Stack) -> dict[str, str]:
    """task id -> status, as the latest snapshot on disk holds them."""
    tables = snapshot_of(stack)["tables"]
    items = next(t["items"] for t in tables if t["table"].endswith("-tasks"))
    return {item["id"]["S"]: item["status"]["S"] for item in items}


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.2)


def team_client(stack: Stack, key: str) -> Client:
    return stack.client(key)


def s3_of(stack: Stack) -> Any:
    env = stack.state["env"]
    return boto3.client("s3", endpoint_url=stack.state["emulator"], region_name=env["AWS_REGION"],
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


def wait_terminal(client: Client, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = {task_id: client.task(task_id) for task_id in ids}
        if all(t["status"] in TERMINAL for t in tasks.values()):
            return tasks
        assert time.monotonic() < deadline, {i: t["status"] for i, t in tasks.items() if t["status"] not in TERMINAL}
        time.sleep(0.3)


@pytest.fixture
def target() -> Iterator[TargetServer]:
    with TargetServer() as server:
        yield server


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[list[Stack]]:
    """The stacks a test starts; any still running at the end is killed (group of the test's own)."""
    started: list[Stack] = []
    yield started
    for stack in started:
        if stack.process.poll() is None:
            _kill_group(stack.process)


def test_a_restart_keeps_keys_tokens_secrets_and_tasks_and_runs_the_unfinished_ones_once(
        tmp_path: Path, target: TargetServer, stacks: list[Stack]) -> None:
    first = start(tmp_path)
    stacks.append(first)
    key = first.create_key("restart-team", scope="admin")
    token = first.create_client_token("restart-team")
    revoked = first.create_key("restart-team", name="revoked before the restart")
    first.revoke_key(revoked["keyId"])
    team = team_client(first, key["apiKey"])
    secret = team.request("GET", "/v1/webhooks/secret")
    assert secret.status_code == 200, secret.text

    due = datetime.now(UTC) + timedelta(seconds=DELAY)
    delayed = [team.create_ok({"targetUrl": target.url(f"/delayed-{i}"), "delayUntil": due.isoformat()})["id"]
               for i in range(3)]
    # Between two retries at the stop: the first attempt got 503 with Retry-After 6 s.
    retrying = [team.create_ok({"targetUrl": target.url(f"/retry-{i}", [
        {"status": 503, "headers": {"Retry-After": "6"}}, 200]), "maxWaitTime": 600})["id"] for i in range(2)]
    # A body too big for the row: kept in S3.
    big = team.create_ok({"targetUrl": target.url("/big", [{"body": "x" * 100_000}])})["id"]
    for task_id in retrying:
        team.wait_until(task_id, lambda t: t["status"] == "pending" and t["retryCount"] == 1)
    big_result = wait_terminal(team, [big], 30)[big]["result"]
    assert "bodyKey" in big_result
    before = {task_id: team.task(task_id) for task_id in [*delayed, *retrying]}
    assert {t["status"] for t in before.values()} == {"delayed", "pending"}
    # Running at the stop: the runner lets the call in hand finish (up to 10 s) before it exits.
    running = team.create_ok({"targetUrl": target.url("/slow", [{"sleep": 6}])})["id"]
    target.wait_for_calls("/slow", 1, 30)

    stop(first)

    second = start(tmp_path)
    stacks.append(second)
    team = team_client(second, key["apiKey"])
    assert team.list().status_code == 200  # the same key works
    assert second.dev_key == first.dev_key
    assert team_client(second, revoked["apiKey"]).list().status_code == 401  # and a revoked one stays revoked
    assert team.request("GET", "/v1/webhooks/secret").json() == secret.json()  # the same secret, decrypted
    started = team.request("POST", f"/api/example_task/tasks/{token['clientToken']}/start/task1", json={})
    assert started.status_code == 200, started.text  # the same client token works
    for task_id, seen in before.items():
        assert team.task(task_id)["id"] == seen["id"]

    finished = wait_terminal(team, [*delayed, *retrying, running, started.json()["task_id"]], DELAY + 40)
    assert {i: t["status"] for i, t in finished.items()} == dict.fromkeys(finished, "completed")
    body = s3_of(second).get_object(Bucket=second.state["env"]["OUTPUTS_BUCKET"], Key=big_result["bodyKey"])
    assert body["Body"].read() == b"x" * 100_000
    time.sleep(3)  # room for a duplicate to show up
    for i, task_id in enumerate(delayed):
        calls = target.calls(f"/delayed-{i}")
        assert len(calls) == 1, task_id
        assert calls[0].at >= due.timestamp() - 1.0  # not before its delayUntil
    for i, task_id in enumerate(retrying):
        assert [finished[task_id]["retryCount"], len(target.calls(f"/retry-{i}"))] == [1, 2], task_id
    assert len(target.calls("/slow")) == 1
    assert len(target.calls("/big")) == 1
    # Three delayed and two retrying tasks had their messages in the old emulator's queues only.
    assert "re-enqueued 5 tasks" in (tmp_path / "supervisor.log").read_text()
    stop(second)

    fresh = start(tmp_path, "--fresh")
    stacks.append(fresh)
    assert team_client(fresh, key["apiKey"]).list().status_code == 401
    assert fresh.dev_key != first.dev_key
    assert team_client(fresh, fresh.dev_key).total() == 0
    stop(fresh)


def test_after_a_hard_crash_what_the_last_snapshot_held_comes_back_and_runs(
        tmp_path: Path, target: TargetServer, stacks: list[Stack]) -> None:
    first = start(tmp_path)
    stacks.append(first)
    team = team_client(first, first.create_key("crash-team")["apiKey"])
    hanging = team.create_ok({"targetUrl": target.url("/hang", [{"hang": True}, 200]), "maxWaitTime": 600})["id"]
    target.wait_for_calls("/hang", 1, 30)
    due = datetime.now(UTC) + timedelta(seconds=8)
    delayed = team.create_ok({"targetUrl": target.url("/delayed"), "delayUntil": due.isoformat()})["id"]
    wait_for(lambda: snapshotted_tasks(first).get(hanging) == "processing" and delayed in snapshotted_tasks(first),
             30, "the snapshot holds both tasks")

    os.killpg(first.process.pid, signal.SIGKILL)  # the whole group: no final snapshot, no drain
    first.process.wait(10)
    target.release()  # the first call of /hang ends now, its answer lost
    with contextlib.suppress(FileNotFoundError):
        (tmp_path / "stack.json").unlink()  # what a killed stack leaves behind

    second = start(tmp_path)
    stacks.append(second)
    team = team_client(second, team.key or "")
    finished = wait_terminal(team, [hanging, delayed], 40)
    assert finished[hanging]["status"] == "completed"
    assert finished[hanging]["retryCount"] == 0  # released, not retried
    assert finished[delayed]["status"] == "completed"
    time.sleep(3)
    # The call that was running at the crash is made again (at-least-once), once; the delayed one once.
    assert (len(target.calls("/hang")), len(target.calls("/delayed"))) == (2, 1)
    stop(second)
