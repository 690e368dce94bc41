"""Function tasks (seeds 000 and 003) through the local stack, the way clients call them: every
shipped task started by every route, progress watched by polling until 100, results read by every
read route, outputs downloaded through their presigned `download_url`; bad arguments, failing
tasks, time limits and team isolation."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Client, Stack
from tests.support.targets import TargetServer

TERMINAL = {"completed", "failed", "timeout", "cancelled"}
SHIPPED = ("builtin.fetch_url", "example_task.task1", "example_task2.task2_with_args")


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    with TargetServer() as server:
        yield server


@pytest.fixture(scope="module")
def shared_token(stack: Stack, shared: Client) -> dict[str, str]:
    """A client token of the module's shared team."""
    return stack.create_client_token(shared.team)


@pytest.fixture
def token(stack: Stack, team: Client) -> dict[str, str]:
    """A client token of the test's own team."""
    return stack.create_client_token(team.team)


# ---- the three ways to start and the three ways to read -------------------------------------


def start_seed003(client: Client, namespace: str, name: str, args: Any, **_: Any) -> requests.Response:
    return client.request("POST", f"/api/{namespace}/task/start/{name}", json=args)


def start_seed000(client: Client, namespace: str, name: str, args: Any, **_: Any) -> requests.Response:
    body = {"task_name": f"{namespace}.{name}", "task_data": args, "callback_url": "https://example.com/cb?custom=1"}
    return client.request("POST", "/tasks/create", json=body)


def start_with_token(client: Client, namespace: str, name: str, args: Any, token: str = "",
                     **_: Any) -> requests.Response:
    return client.request("POST", f"/api/{namespace}/tasks/{token}/start/{name}", json=args)


STARTS: dict[str, Callable[..., requests.Response]] = {
    "seed003": start_seed003, "seed000": start_seed000, "client-token": start_with_token,
}


def start(client: Client, route: str, qualified: str, args: Any, token: str = "") -> str:
    namespace, name = qualified.split(".")
    response = STARTS[route](client, namespace, name, args, token=token)
    assert response.status_code == (201 if route == "seed000" else 200), response.text
    body = response.json()
    if route == "seed000":
        assert body["status"] == "pending"
    return str(body["task_id"])


def read(client: Client, route: str, task_id: str, namespace: str) -> dict[str, Any]:
    """The task as one read route shows it, normalised to {status, progress, result, download_url, error}."""
    if route == "seed003":
        response = client.request("GET", f"/api/{namespace}/task/result/{task_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) >= {"task_id", "status", "progress", "result", "timestamp"}
        return body
    if route == "seed000":
        response = client.request("GET", f"/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return response.json()
    task = client.task(task_id)
    assert task["kind"] == "function" and task["namespace"] == namespace
    return {**task, "download_url": task.get("output", {}).get("downloadUrl")}


def watch(client: Client, started: dict[str, str], namespace: str, timeout: float = 60) -> dict[str, list[dict]]:
    """Poll each task through the read route of the family that started it (client-token tasks
    through v1) until all are terminal; every observation, in order."""
    read_route = {"seed003": "seed003", "seed000": "seed000", "client-token": "v1"}
    seen: dict[str, list[dict]] = {route: [] for route in started}
    deadline = time.monotonic() + timeout
    while True:
        pending = [r for r in started if not seen[r] or seen[r][-1]["status"] not in TERMINAL]
        if not pending:
            return seen
        assert time.monotonic() < deadline, {r: seen[r][-1:] for r in pending}
        for route in pending:
            seen[route].append(read(client, read_route[route], started[route], namespace))
        time.sleep(0.1)


def start_everywhere(client: Client, qualified: str, args: Any, token: str) -> dict[str, str]:
    return {route: start(client, route, qualified, args, token) for route in STARTS}


def assert_rose_to_100(observations: list[dict], expect_midway: bool = True) -> None:
    progress = [o["progress"] for o in observations if o.get("progress") is not None]
    assert progress == sorted(progress), f"progress went down: {progress}"
    assert observations[-1]["status"] == "completed", observations[-1]
    assert progress[-1] == 100
    if expect_midway:
        assert any(0 < p < 100 for p in progress), f"no progress seen between 0 and 100: {progress}"


# ---- the shipped tasks ----------------------------------------------------------------------


def test_example_task1_by_every_route(shared: Client, shared_token: dict[str, str]) -> None:
    started = start_everywhere(shared, "example_task.task1", {}, shared_token["clientToken"])
    seen = watch(shared, started, "example_task")
    for route, observations in seen.items():
        # task1's steps last 1.5 s in all: a poll on a loaded machine (LocalStack, two workers)
        # can miss them, which failed this test once; progress seen rising midway is
        # test_example_task2_with_args_by_every_route's (ten steps over 5 s).
        assert_rose_to_100(observations, expect_midway=False)
        assert observations[-1]["result"] == "<Task1 Result>", route
    for route, task_id in started.items():  # every read route shows every task the same way
        assert read(shared, "seed003", task_id, "example_task")["result"] == "<Task1 Result>"
        assert read(shared, "seed000", task_id, "example_task")["task_name"] == "example_task.task1"
    v1 = shared.task(started["client-token"])
    assert (v1["name"], v1["progress"], v1["status"], v1["clientId"]) == ("task1", 100, "completed",
                                                                          shared_token["tokenId"])
    assert "targetUrl" not in v1 and "method" not in v1
    assert shared.task(started["seed000"])["callbackUrl"] == "https://example.com/cb?custom=1"


def test_example_task2_with_args_by_every_route(shared: Client, shared_token: dict[str, str]) -> None:
    started = start_everywhere(shared, "example_task2.task2_with_args", {"name": "Matt", "age": 25},
                               shared_token["clientToken"])
    seen = watch(shared, started, "example_task2")
    for observations in seen.values():
        assert_rose_to_100(observations)
        assert observations[-1]["result"] == "Completed task for Matt, age 25"
        assert len({o["progress"] for o in observations}) >= 4  # ten steps, 0.5 s apart, seen rising
    assert shared.task(started["seed003"])["args"] == {"name": "Matt", "age": 25}


def test_example_task2_without_a_body_uses_the_default_arguments(shared: Client) -> None:
    response = shared.request("POST", "/api/example_task2/task/start/task2_with_args")  # no body at all
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    assert shared.task(task_id)["args"] == {"name": "Anonymous", "age": 0}


def test_fetch_url_by_every_route_and_download_the_output(shared: Client, shared_token: dict[str, str],
                                                          target: TargetServer) -> None:
    payload = os.urandom(700 * 1024)
    url = target.url("/files/report.bin", [{"body": payload, "headers": {"Content-Type": "application/pdf"}}])
    started = start_everywhere(shared, "builtin.fetch_url", {"url": url}, shared_token["clientToken"])
    seen = watch(shared, started, "builtin")
    digest = hashlib.sha256(payload).hexdigest()
    for route, observations in seen.items():
        assert_rose_to_100(observations, expect_midway=False)  # a local download may finish between polls
        final = observations[-1]
        assert final["result"]["sha256"] == digest and final["result"]["size"] == len(payload), route
        download = requests.get(final["download_url"], timeout=30)  # plain GET: the URL is the credential
        assert download.status_code == 200, download.text[:300]
        assert download.content == payload, route
        assert download.headers["Content-Type"] == "application/pdf"
        assert 'filename="report.bin"' in download.headers["Content-Disposition"]
    v1 = shared.task(started["seed003"])
    assert v1["output"]["filename"] == "report.bin" and v1["output"]["size"] == len(payload)
    assert "key" not in v1["output"]  # the S3 key stays ours
    assert requests.get(v1["output"]["downloadUrl"], timeout=30).content == payload


def test_fetch_url_of_a_missing_page_fails_without_retries(shared: Client, target: TargetServer) -> None:
    task_id = start(shared, "seed003", "builtin.fetch_url", {"url": target.url("/missing", [404])}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["retryCount"]) == ("failed", 0)
    assert done["error"] == f"TaskFailed: HTTP 404 from {target.base}/missing"
    assert "output" not in done


def test_every_shipped_task_is_registered_and_documented(stack: Stack, shared: Client) -> None:
    response = shared.request("POST", "/api/nothing/task/start/here", json={})
    assert response.status_code == 404
    for name in SHIPPED:
        assert name in response.json()["error"]
    spec = requests.get(stack.url + "/openapi.json", timeout=10).json()
    for path in ("/tasks/create", "/tasks/{task_id}", "/api/{namespace}/task/start/{task_name}",
                 "/api/{namespace}/task/result/{task_id}", "/api/{namespace}/tasks/{client_token}/start/{task_name}",
                 "/api/example_task2/task/start/task2_with_args", "/api/builtin/task/start/fetch_url"):
        assert path in spec["paths"], path
    assert spec["components"]["schemas"]["ExampleTask2Task2WithArgsArgs"]["required"] == ["name", "age"]


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(STARTS))
def test_bad_arguments_are_400_with_every_field(shared: Client, shared_token: dict[str, str], route: str) -> None:
    before = shared.total()
    response = STARTS[route](shared, "example_task2", "task2_with_args", {"name": 7, "age": "old"},
                             token=shared_token["clientToken"])
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Invalid arguments for example_task2.task2_with_args: "
                                        "name: Input should be a valid string; "
                                        "age: Input should be a valid integer, unable to parse string as an integer"}
    missing = STARTS[route](shared, "builtin", "fetch_url", {"url": "ftp://example.com/x", "extra": 1},
                            token=shared_token["clientToken"])
    assert missing.status_code == 400
    assert missing.json()["error"] == ("Invalid arguments for builtin.fetch_url: "
                                       "url: Value error, must be an http(s) URL; extra: unknown field")
    assert shared.total() == before  # nothing stored


@pytest.mark.parametrize("depth", [101, 300, 900])
@pytest.mark.parametrize("path, wrap", [
    ("/api/example_task/task/start/task1", lambda deep: {"x": deep}),
    ("/tasks/create", lambda deep: {"task_name": "example_task.task1", "task_data": {"x": deep}}),
])
def test_arguments_nested_too_deep_are_400_not_500(shared: Client, path: str, wrap: Any, depth: int) -> None:
    """Stored, they could not be serialised (pydantic stops near 255 levels): a 500 that stored
    nothing. The limit is the one callbacks' results have (attacker review)."""
    before = shared.total()
    deep: Any = 1
    for _ in range(depth - 1):
        deep = [deep]
    response = shared.request("POST", path, json=wrap(deep))
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Invalid arguments for example_task.task1: nested deeper than 100 levels"}
    assert shared.total() == before


@pytest.mark.parametrize("route", list(STARTS))
def test_unknown_names_are_404_listing_the_registered_ones(shared: Client, shared_token: dict[str, str],
                                                           route: str) -> None:
    response = STARTS[route](shared, "example_task2", "no_such_task", {}, token=shared_token["clientToken"])
    assert response.status_code == 404
    error = response.json()["error"]
    assert error.startswith("Unknown task example_task2.no_such_task. Registered tasks: ")
    assert all(name in error for name in SHIPPED)


@pytest.mark.parametrize("path, body, status, error", [
    ("/api/example_task/task/start/task1", "{not json", 400, "Request body must be valid JSON"),
    ("/api/example_task/task/start/task1", "[1, 2]", 400, "Request body must be a JSON object"),
    ("/tasks/create", "", 400, "Request body is required"),
    ("/tasks/create", '{"task_data": {}}', 400, "task_name is required"),
    ("/tasks/create", '{"task_name": "example_task.task1", "priority": 1}', 400, "Unknown field: priority"),
    ("/tasks/create", '{"task_name": "example_task2.task2_with_args", "task_data": "text"}', 400,
     "task_data must be a JSON object of the arguments of example_task2.task2_with_args"),
    ("/tasks/create", '{"task_name": "example_task.task1", "callback_url": "nope"}', 400,
     "callback_url must be a valid HTTP/HTTPS URL"),
    ("/tasks/create", '{"task_name": "No Such Task"}', 404, None),  # "Example Task" is a display name now
])
def test_malformed_requests(shared: Client, path: str, body: str, status: int, error: str | None) -> None:
    response = shared.request("POST", path, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if error is not None:
        assert response.json() == {"error": error}


def test_a_private_callback_url_is_refused(shared: Client) -> None:
    body = {"task_name": "example_task.task1", "callback_url": "http://169.254.169.254/latest/meta-data"}
    response = shared.request("POST", "/tasks/create", json=body)
    assert response.status_code == 400
    assert "callback_url resolves to a private, loopback or link-local address" in response.json()["error"]


# ---- failures and limits --------------------------------------------------------------------


def wait_terminal(client: Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    return client.wait_until(task_id, lambda t: t["status"] in TERMINAL, timeout=timeout)


def test_a_raising_task_fails_with_its_message(shared: Client) -> None:
    task_id = start(shared, "seed003", "testing.boom", {"message": "the input was empty"}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["error"], done["progress"], done["retryCount"]) == (
        "failed", "ValueError: the input was empty", 30, 0)
    assert "Traceback" not in str(done)
    seed003 = read(shared, "seed003", task_id, "testing")
    assert (seed003["status"], seed003["error"], seed003["result"]) == ("failed", "ValueError: the input was empty",
                                                                        None)
    assert read(shared, "seed000", task_id, "testing")["error"] == "ValueError: the input was empty"


def test_retries_follow_max_retries_and_backoff(shared: Client) -> None:
    task_id = start(shared, "seed003", "testing.always_broken", {}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["retryCount"], done["error"]) == ("failed", 2, "RuntimeError: attempt 3 broke")
    assert done["progress"] == 30  # each attempt reported 10 x its number
    elapsed = parse(done["completedAt"]) - parse(done["startedAt"])
    assert elapsed >= 2.3, elapsed  # linear backoff: about 1 s, then about 2 s (+/- 20 %)


def test_a_task_failed_exception_is_not_retried(shared: Client) -> None:
    task_id = start(shared, "seed003", "testing.refuses", {"reason": "no data for May"}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["retryCount"], done["error"]) == ("failed", 0, "TaskFailed: no data for May")


def test_a_sync_function_past_its_timeout_is_cut_retried_then_failed(shared: Client) -> None:
    task_id = start(shared, "seed003", "testing.sleeps_past_its_timeout", {"seconds": 4}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["retryCount"], done["error"]) == ("failed", 1, "timeout after 1s")
    assert "result" not in done


def test_an_async_function_past_its_timeout_is_cancelled(shared: Client) -> None:
    task_id = start(shared, "seed003", "testing.loops_forever", {}, "")
    done = wait_terminal(shared, task_id)
    assert (done["status"], done["error"]) == ("failed", "timeout after 1s")
    assert 0 < done["progress"] < 100


def test_an_output_written_by_a_test_task(shared: Client) -> None:
    text = "naïve café ✓\n" * 50
    task_id = start(shared, "seed000", "testing.writes_output", {"text": text, "filename": "notes.txt"}, "")
    done = wait_terminal(shared, task_id)
    details = read(shared, "seed000", task_id, "testing")
    assert details["download_url"] and done["output"]["filename"] == "notes.txt"
    got = requests.get(details["download_url"], timeout=30)
    assert got.content == text.encode("utf-8") and got.headers["Content-Type"] == "text/plain"


# ---- teams and tokens -----------------------------------------------------------------------


def test_another_teams_task_is_403_on_every_read_route(team: Client, other_team: Client) -> None:
    task_id = start(team, "seed003", "example_task.task1", {}, "")
    for response in (other_team.request("GET", f"/api/example_task/task/result/{task_id}"),
                     other_team.request("GET", f"/tasks/{task_id}"),
                     other_team.get(task_id)):
        assert response.status_code == 403, response.text
        assert response.json() == {"error": "Access denied"}
    wrong_namespace = team.request("GET", f"/api/example_task2/task/result/{task_id}")
    assert (wrong_namespace.status_code, wrong_namespace.json()) == (404, {"error": "Task not found"})
    missing = team.request("GET", "/tasks/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.json()) == (404, {"error": "Task not found"})


def test_every_route_needs_the_api_key(anonymous: Client) -> None:
    for method, path in (("POST", "/tasks/create"), ("GET", "/tasks/x"),
                         ("POST", "/api/example_task/task/start/task1"),
                         ("GET", "/api/example_task/task/result/x"),
                         ("POST", "/api/example_task/tasks/ct_x/start/task1")):
        response = anonymous.request(method, path, json={})
        assert (response.status_code, response.json()) == (401, {"error": "API key required"}), path


def test_client_tokens_belong_to_one_team(stack: Stack, team: Client, other_team: Client,
                                          token: dict[str, str]) -> None:
    theirs = start_with_token(other_team, "example_task", "task1", {}, token=token["clientToken"])
    assert (theirs.status_code, theirs.json()) == (403, {"error": "Access denied"})
    forged = start_with_token(team, "example_task", "task1", {}, token="ct_" + "x" * 43)
    assert (forged.status_code, forged.json()) == (401, {"error": "Invalid or revoked client token"})
    as_bearer = stack.client(token["clientToken"]).request("POST", "/api/example_task/task/start/task1")
    assert (as_bearer.status_code, as_bearer.json()) == (
        403, {"error": "A client token can only read its client's tasks"})
    stack.cli("client-tokens", "revoke", token["tokenId"])
    revoked = start_with_token(team, "example_task", "task1", {}, token=token["clientToken"])
    assert revoked.status_code == 401


def test_client_tokens_never_reach_the_api_log(stack: Stack, team: Client, token: dict[str, str]) -> None:
    start(team, "client-token", "example_task.task1", {}, token["clientToken"])
    log = (stack.state_dir / "api.log").read_text(errors="replace")
    assert "/api/example_task/tasks/ct_…/start/task1" in log
    assert token["clientToken"] not in log


def parse(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
