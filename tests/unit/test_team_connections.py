"""Each team's outbound calls go over connections of its own (adapters/http.py TeamSessions).

One keep-alive pool served every team: a target host that reads a request's end otherwise than our
client wrote it (a desync on the host's side) could take one team's body as the start of the next
request on that connection, and the next request there was another team's, `tok_` secret and all.
These tests send the tasks of two teams to one keep-alive server and look at which connection
(the client's port) each request came on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from taskhook.adapters.http import OutboundPolicy, TeamSessions, call_target
from taskhook.config import Settings
from taskhook.container import Container
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryObjectStore, InMemoryPlanStore, InMemoryTaskRepository

LOOPBACK = OutboundPolicy(allow=("127.0.0.1/32",))


class KeepAliveServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1; `ports[path]`: the client port each request to that path came from."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self.release = threading.Event()
        self.release.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.ports[self.path] = self.client_address[1]
                if self.path.startswith("/slow"):
                    server.release.wait(10)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    s = KeepAliveServer()
    yield s
    s.close()


def _container() -> tuple[Container, InMemoryTaskRepository]:
    c = Container(Settings())
    repo = InMemoryTaskRepository()
    # No AWS: fakes in place of the adapters the executor is built from; the real outbound sessions.
    c.__dict__.update(task_repository=repo, plan_store=InMemoryPlanStore(), object_store=InMemoryObjectStore(),
                      outbound_policy=LOOPBACK)
    return c, repo


def _run(c: Container, repo: InMemoryTaskRepository, task_id: str, team: str, url: str) -> None:
    repo.put_new(Task(id=task_id, teamId=team, status=TaskStatus.PENDING, targetUrl=url, method="POST",
                      body='{"n": 1}', createdAt="2026-01-01T00:00:00.000Z", maxRetries=0))
    c.executor.run(task_id, lambda: 60.0, lambda s: None)
    stored = repo.get(task_id)
    assert stored is not None and stored.status is TaskStatus.COMPLETED, stored


def test_two_teams_tasks_to_one_host_never_share_a_connection(server: KeepAliveServer) -> None:
    c, repo = _container()
    _run(c, repo, "a1", "team-a", f"{server.base}/a1")
    _run(c, repo, "b1", "team-b", f"{server.base}/b1")
    _run(c, repo, "a2", "team-a", f"{server.base}/a2")
    _run(c, repo, "b2", "team-b", f"{server.base}/b2")
    ports = server.ports
    assert ports["/a1"] == ports["/a2"], ports  # a team's calls still reuse its kept-alive connection
    assert ports["/b1"] == ports["/b2"], ports
    assert ports["/a1"] != ports["/b1"], ports  # before: one pool, one connection for both teams


def test_polls_notifications_and_functions_use_the_teams_own_connections(server: KeepAliveServer) -> None:
    c, _ = _container()
    fetch, post = c.poller.fetch, c.deliverer.post
    assert fetch("team-a", "GET", f"{server.base}/poll-a", {}, 5).status_code == 200
    assert post("team-b", f"{server.base}/notify-b", {}, "{}", 5).status_code == 200
    assert post("team-a", f"{server.base}/notify-a", {}, "{}", 5).status_code == 200
    functions = c.executor.functions
    assert functions is not None and functions.http is not None
    assert functions.http("team-b").get(f"{server.base}/function-b", timeout=5).status_code == 200
    ports = server.ports
    assert ports["/poll-a"] == ports["/notify-a"] != ports["/notify-b"] == ports["/function-b"], ports


def test_a_download_goes_over_the_tasks_team_connections(server: KeepAliveServer) -> None:
    import io

    from taskhook.adapters.downloads import SessionDownloader

    sessions = TeamSessions(LOOPBACK)
    downloader = SessionDownloader(sessions, max_redirects=1)
    for team in ("team-a", "team-b", "team-a"):
        downloader.download(team, f"{server.base}/{team}/{len(server.ports)}", lambda url: {}, io.BytesIO(), 100, 5)
    assert server.ports["/team-a/0"] == server.ports["/team-a/2"] != server.ports["/team-b/1"], server.ports


def test_the_least_recently_used_team_session_is_closed_past_the_bound(server: KeepAliveServer) -> None:
    sessions = TeamSessions(LOOPBACK, most=2)
    first_a = sessions("team-a")
    server.release.clear()
    answers: list[Any] = []
    in_flight = threading.Thread(target=lambda: answers.append(
        call_target(first_a, "GET", f"{server.base}/slow", {}, None, 10)))
    in_flight.start()
    for _ in range(500):  # until the server holds the request
        if "/slow" in server.ports:
            break
        threading.Event().wait(0.01)
    assert "/slow" in server.ports
    sessions("team-b")
    assert sessions("team-b") is sessions("team-b")
    sessions("team-c")  # team-a, used longest ago, is dropped and its session closed
    assert len(sessions) == 2
    server.release.set()
    in_flight.join(10)
    assert answers and answers[0].status_code == 200  # the request running on it still ended normally
    assert sessions("team-a") is not first_a
    assert len(sessions) == 2


def test_a_team_session_unused_for_a_minute_is_closed(server: KeepAliveServer) -> None:
    now = [0.0]
    sessions = TeamSessions(LOOPBACK, idle=60.0, clock=lambda: now[0])
    first_a = sessions("team-a")
    assert first_a.get(f"{server.base}/idle-a", timeout=5).status_code == 200
    now[0] = 59.0
    assert sessions("team-b") is not first_a and len(sessions) == 2  # team-a still within its minute
    now[0] = 61.0
    sessions("team-b")
    assert len(sessions) == 1  # team-a's session (and its kept-alive socket) closed
    assert sessions("team-a") is not first_a


def test_a_team_keeps_the_pools_of_its_four_hosts_used_last() -> None:
    session = TeamSessions(LOOPBACK)("team-a")
    adapter = session.get_adapter("http://example.com/")
    assert adapter.poolmanager.pools._maxsize == 4  # type: ignore[attr-defined]
