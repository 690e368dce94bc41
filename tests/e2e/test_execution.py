"""The execution engine through the local stack: tasks created over HTTP, run by the event-source
runner against targets these tests serve on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Client, Stack, pid_alive
from tests.support.targets import TargetServer

TERMINAL = {"completed", "failed", "timeout", "cancelled"}


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    with TargetServer() as server:
        yield server


def wait_terminal(client: Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(task_id, wait=min(10, max(1, int(deadline - time.monotonic()))))
        assert response.status_code == 200, response.text
        task = response.json()["task"]
        if task["status"] in TERMINAL:
            return task
    raise AssertionError(f"task {task_id} still {task.get('status')} after {timeout}s: {task}")


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_success_records_the_result(team: Client, target: TargetServer) -> None:
    url = target.url("/ok", [{"status": 200, "body": '{"processed": 123}', "headers": {"X-Reply": "yes"}}])
    task = team.create_ok({"targetUrl": url, "method": "PUT", "headers": {"X-Custom": "abc"},
                           "body": '{"action": "process"}'})
    done = wait_terminal(team, task["id"])
    assert done["status"] == "completed"
    assert done["retryCount"] == 0
    assert done["result"]["statusCode"] == 200
    assert done["result"]["body"] == '{"processed": 123}'
    assert done["result"]["headers"]["x-reply"] == "yes"
    assert isinstance(done["result"]["duration"], int) and done["result"]["duration"] >= 0
    assert done["startedAt"] and done["completedAt"]
    calls = target.calls("/ok")
    assert len(calls) == 1
    assert calls[0].method == "PUT"
    assert calls[0].headers["X-Custom"] == "abc"
    assert calls[0].body == b'{"action": "process"}'


def test_a_4xx_is_the_customers_answer_and_is_not_retried(team: Client, target: TargetServer) -> None:
    task = team.create_ok({"targetUrl": target.url("/404", [404])})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["retryCount"], done["result"]["statusCode"]) == ("completed", 0, 404)
    time.sleep(1.5)
    assert len(target.calls("/404")) == 1


def test_three_503s_then_200_completes_with_retry_count_3(team: Client, target: TargetServer) -> None:
    task = team.create_ok({"targetUrl": target.url("/flaky", [503, 503, 503, 200]), "maxRetries": 3})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["retryCount"]) == ("completed", 3)
    calls = target.calls("/flaky")
    assert len(calls) == 4
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    # exponential backoff from 1 s with +/-20 % jitter: roughly 1, 2, 4 seconds apart
    assert gaps[0] >= 0.75 and gaps[1] >= 1.5 and gaps[2] >= 3.0, gaps


def test_always_503_with_max_retries_2_fails_after_exactly_three_calls(team: Client, target: TargetServer) -> None:
    task = team.create_ok({"targetUrl": target.url("/down", [503]), "maxRetries": 2, "retryBackoff": "linear"})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["retryCount"], done["error"]) == ("failed", 2, "HTTP 503")
    time.sleep(2)
    assert len(target.calls("/down")) == 3


def test_a_slow_target_times_out_each_attempt_then_fails(team: Client, target: TargetServer) -> None:
    task = team.create_ok({"targetUrl": target.url("/slow", [{"sleep": 3}]), "timeout": 1, "maxRetries": 1})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["retryCount"], done["error"]) == ("failed", 1, "timeout after 1s")
    assert len(target.calls("/slow")) == 2


def test_a_dead_target_fails_with_econnrefused(team: Client, stack: Stack) -> None:
    from tests.e2e.conftest import free_port

    task = team.create_ok({"targetUrl": f"http://127.0.0.1:{free_port()}/", "maxRetries": 0})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["error"]) == ("failed", "fetch failed: ECONNREFUSED")


def test_429_honours_retry_after(team: Client, target: TargetServer) -> None:
    script = [{"status": 429, "headers": {"Retry-After": "3"}}, 200]
    task = team.create_ok({"targetUrl": target.url("/busy", script)})
    done = wait_terminal(team, task["id"])
    assert (done["status"], done["retryCount"]) == ("completed", 1)
    first, second = target.calls("/busy")
    assert second.at - first.at >= 2.9


def test_max_wait_time_turns_a_task_into_timeout(team: Client, target: TargetServer) -> None:
    task = team.create_ok({"targetUrl": target.url("/never", [503]), "maxWaitTime": 2, "maxRetries": 10})
    done = wait_terminal(team, task["id"])
    assert done["status"] == "timeout"
    assert "maxWaitTime" in done["error"]
    assert parse(done["completedAt"]) - parse(done["startedAt"]) >= 2


def test_delay_until_fires_within_a_second(team: Client, target: TargetServer) -> None:
    due = datetime.now(UTC) + timedelta(seconds=5)
    task = team.create_ok({"targetUrl": target.url("/later"), "delayUntil": due.isoformat()})
    assert task["status"] == "delayed"
    done = wait_terminal(team, task["id"])
    assert done["status"] == "completed"
    (call,) = target.calls("/later")
    lateness = call.at - due.timestamp()
    assert -0.05 <= lateness <= 1.0, f"first call {lateness:+.3f}s from delayUntil"


def test_a_cancelled_delayed_task_is_never_called(team: Client, target: TargetServer) -> None:
    due = datetime.now(UTC) + timedelta(seconds=3)
    task = team.create_ok({"targetUrl": target.url("/cancelled"), "delayUntil": due.isoformat()})
    response = team.cancel(task["id"])
    assert response.status_code == 200 and response.json()["task"]["status"] == "cancelled"
    time.sleep(max(0.0, due.timestamp() - time.time()) + 3)
    assert target.calls("/cancelled") == []
    assert team.get(task["id"]).json()["task"]["status"] == "cancelled"


RUNNER_WORKERS = 4  # infra/runner.py's default TASKHOOK_RUNNER_WORKERS: lane pollers, 10 messages each


def test_a_backlog_drains_the_high_lane_first(team: Client, target: TargetServer) -> None:
    # Hold every lane worker on hanging calls, so that a real backlog piles up in the three lanes.
    blocker_url = target.url("/blocker", [{"hang": True}])
    blockers = [team.create_ok({"targetUrl": blocker_url, "maxRetries": 0, "timeout": 60, "maxWaitTime": 120,
                                "priority": 10})
                for _ in range(RUNNER_WORKERS * 10)]
    seen, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 2.0:  # in flight: no free worker takes more
        count = len(target.calls("/blocker"))
        if count != seen:
            seen, stable_since = count, time.monotonic()
        time.sleep(0.2)
    assert seen >= RUNNER_WORKERS
    paths = {"low": 2, "normal": 5, "high": 9}
    for lane in paths:
        target.url(f"/lane-{lane}", [{"sleep": 0.1}])
    for _ in range(20):
        for lane, priority in paths.items():
            team.create_ok({"targetUrl": f"{target.base}/lane-{lane}", "priority": priority})
    time.sleep(2)  # let the stream dispatch the backlog into the lanes
    assert all(target.calls(f"/lane-{lane}") == [] for lane in paths), "a worker was free"
    target.release()
    for lane in paths:
        target.wait_for_calls(f"/lane-{lane}", 20, timeout=90)
    median = {lane: statistics.median(c.at for c in target.calls(f"/lane-{lane}")) for lane in paths}
    assert median["high"] < median["normal"] < median["low"], median
    for blocker in blockers:
        wait_terminal(team, blocker["id"])


def test_a_killed_executor_finishes_the_task_exactly_once(team: Client, target: TargetServer, stack: Stack) -> None:
    url = target.url("/crash", [{"hang": True}, 200])
    task = team.create_ok({"targetUrl": url, "timeout": 3})
    assert target.wait_for_calls("/crash", 1, timeout=30), "the first attempt never arrived"
    runner_pid = _runner_pid(stack)
    os.kill(runner_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(runner_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    target.release()  # the killed run's connection is gone; later calls answer 200
    done = wait_terminal(team, task["id"], timeout=60)
    assert done["status"] == "completed" and done["result"]["statusCode"] == 200
    assert len(target.calls("/crash")) == 2
    assert _runner_pid(stack) != runner_pid, "the stack did not restart the runner"
    assert _completions_in_stream(stack, task["id"]) == 1


def _runner_pid(stack: Stack) -> int:
    import json

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pid = int(json.loads((stack.state_dir / "stack.json").read_text())["pids"]["runner"])
        if pid_alive(pid):
            return pid
        time.sleep(0.2)
    raise AssertionError("no live runner")


def _completions_in_stream(stack: Stack, task_id: str) -> int:
    """How many writes moved the task into a terminal status, read from the table's stream."""
    from bench.soak import stream_transitions

    env = stack.state["env"]
    kwargs = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": env["AWS_REGION"],
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    finished, _, _ = stream_transitions(boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs),
                                        env["TASKS_TABLE"], {task_id})
    return finished[task_id]
