"""Issue 11, items 2 and 6, end to end: a local stack started with TASKHOOK_OUTBOUND_ALLOW set but
empty (which used to fall back to allowing loopback), driven over HTTP like an attacker would.

Listeners on 127.0.0.x count every TCP connection they receive: a refused destination gets none,
neither at creation nor when a task runs, and the answer is the same whether anything listens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bench.stack import LocalStack
from tests.e2e.conftest import Client, Stack
from tests.support.listeners import Listener

TASK_MODULES = "builtin,tests.support.ssrf_tasks"
REFUSED = "destination not allowed"
FETCH_REFUSED = ("Invalid arguments for builtin.fetch_url: url resolves to a private, loopback or "
                 "link-local address: destination not allowed")




@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir: Path = tmp_path_factory.mktemp("ssrf-stack")
    stack = LocalStack(workdir, TASKHOOK_OUTBOUND_ALLOW="", TASKHOOK_TASK_MODULES=TASK_MODULES,
                       TASKHOOK_CLAIM_MARGIN="2", TASKHOOK_SCHEDULE_SECONDS="2")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def client(strict_stack: LocalStack) -> Client:
    client = Client(strict_stack.url, strict_stack.create_key("ssrf-e2e"))
    return client


@pytest.fixture
def listener() -> Iterator[Listener]:
    port = Listener("127.0.0.1")
    yield port
    port.sock.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield reserved.getsockname()[1]


def test_an_empty_allow_list_stays_empty_and_the_banner_says_so(strict_stack: LocalStack) -> None:
    assert strict_stack.state["env"]["TASKHOOK_OUTBOUND_ALLOW"] == ""
    banner = (Path(strict_stack.workdir) / "supervisor.log").read_text()
    assert ("Outbound   loopback targets refused, private/link-local targets refused "
            "(TASKHOOK_OUTBOUND_ALLOW='')") in banner
    assert "ALLOWED" not in banner


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_fetch_url_of_a_loopback_port_is_refused_at_creation(client: Client, listener: Listener, scheme: str) -> None:
    before = client.total()
    response = client.request("POST", "/api/builtin/task/start/fetch_url",
                              json={"url": f"{scheme}://127.0.0.1:{listener.port}/"})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": FETCH_REFUSED}
    assert client.total() == before
    assert listener.connections() == 0


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:19916\\@127.0.0.2:19915/",
    "http://169.254.169.254./",
    "http://%31%36%39.254.169.254/",
    "http://0x7f.1/",
    "http://exa\u0000mple.com/",
])
def test_disguised_targets_are_refused_at_creation_in_every_field(client: Client, url: str) -> None:
    before = client.total()
    for field in ("targetUrl", "onCompleteUrl"):
        response = client.create({"targetUrl": "https://example.com/", field: url})
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith(f"{field} "), response.text
    named = client.request("POST", "/tasks/create", json={"task_name": "example_task.task1", "callback_url": url})
    assert named.status_code == 400, named.text
    assert named.json()["error"].startswith("callback_url "), named.text
    fetch = client.request("POST", "/api/builtin/task/start/fetch_url", json={"url": url})
    assert fetch.status_code == 400, fetch.text
    assert fetch.json()["error"].startswith("Invalid arguments for builtin.fetch_url: url"), fetch.text
    assert client.total() == before


@pytest.mark.parametrize("headers", [{"X-Token": "a\u0000b"}, {"X-Token": "a\rb"}, {"X-To\u0000ken": "v"}])
def test_a_control_character_in_a_header_is_a_400(client: Client, headers: dict[str, str]) -> None:
    response = client.create({"targetUrl": "https://example.com/", "headers": headers})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "headers must be an object of header names to string values"}


def _run_unchecked(client: Client, url: str) -> dict[str, Any]:
    started = client.request("POST", "/api/ssrf/task/start/fetch_unchecked", json={"url": url})
    assert started.status_code == 200, started.text
    task_id = started.json()["task_id"]
    return client.wait_until(task_id, lambda t: t["status"] in ("completed", "failed", "timeout", "cancelled"),
                             timeout=60)


def test_a_name_resolving_to_loopback_at_call_time_never_reaches_the_listener(
    client: Client, listener: Listener, closed_port: int,
) -> None:
    # `localhost` resolves (system DNS, in the runner) to 127.0.0.1; the URL was not checked at creation.
    answers = [_run_unchecked(client, url) for url in (f"https://localhost:{listener.port}/",
                                                      f"http://127.0.0.1:{listener.port}/",
                                                      f"https://localhost:{closed_port}/")]
    assert listener.connections() == 0
    for done in answers:
        # Final at once (no retry as if transient), and the same text for an open and a closed port.
        assert (done["status"], done["error"], done["retryCount"]) == ("failed", f"TaskFailed: {REFUSED}", 0)


def test_no_task_reaches_the_stack_s_own_services_on_loopback(stack: Stack, team: Client) -> None:
    """Loopback is open to targets on the local stack, but not to the stack itself: the emulator
    (no authentication: every team's rows and keys) and the WebSocket API and its management twin
    (which posts to any connection) are refused at create, like any refused destination."""
    env = stack.state["env"]
    own = [stack.state["emulator"] + "/", env["WEBSOCKET_MANAGEMENT_URL"] + "/@connections/x",
           stack.state["websocket"].replace("ws://", "http://") + "/ws"]
    for url in own:
        answer = team.request("POST", "/v1/tasks", json={"targetUrl": url, "method": "POST", "body": "{}"})
        assert answer.status_code == 400, (url, answer.text)
        port = urlsplit(url).port
        assert answer.json() == {"error": f"targetUrl port {port} is refused here: {REFUSED}"}
        localhost = url.replace("127.0.0.1", "localhost")
        assert team.request("POST", "/v1/tasks", json={"targetUrl": localhost}).status_code == 400, localhost
    assert "(the stack's own)" in (stack.state_dir / "supervisor.log").read_text()
