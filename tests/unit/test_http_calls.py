"""One HTTP attempt (call_target) against servers on 127.0.0.1 that the tests open themselves, what an
answer means (Attempt.final / retryable), Retry-After parsing and the result document."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from taskhook.adapters import http as delivery
from taskhook.adapters.http import USER_AGENT, OutboundPolicy, call_target, guarded_session, parse_retry_after
from taskhook.model.attempt import Attempt, result_document
from taskhook.model.clock import utcnow

BIG = 300 * 1024


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


class TargetHandler(BaseHTTPRequestHandler):
    """A customer's target, routed by path. Every request is recorded."""

    protocol_version = "HTTP/1.1"
    recorder: Recorder

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        if code in (204, 304):
            body = b""  # these answers have no body by definition
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.recorder.requests.append(
            {"method": self.command, "path": parts.path, "headers": dict(self.headers.items()), "body": body}
        )
        path = parts.path
        if path == "/ok":
            self._send(200, b'{"ok": true}', {"Content-Type": "application/json", "X-Reply": "yes"})
        elif path == "/echo":
            self._send(200, b"echoed", {"Content-Type": "text/plain"})
        elif path == "/set-cookie":  # a target that logs its caller in
            self._send(200, b"logged in", {"Set-Cookie": "session=team-b-secret; Path=/"})
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._send(code, f"status {code}".encode(), headers)
        elif path == "/redirect":
            host, port = self.server.server_address[:2]
            self._send(302, b"", {"Location": query.get("to", f"http://{host}:{port}/redirect-target")})
        elif path == "/redirect-target":
            self._send(200, b"should never be reached")
        elif path == "/slow":
            self.recorder.release.wait(5)
            with suppress(OSError):  # the client gave up long ago
                self._send(200, b"too late")
        elif path == "/big":
            self._send(200, b"a" * BIG, {"Content-Type": "application/octet-stream"})
        else:
            self._send(404, b"no such path")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    handler = type("Handler", (TargetHandler,), {"recorder": recorder})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    recorder.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server: tuple[str, Recorder]) -> str:
    server[1].requests.clear()
    return server[0]


@pytest.fixture
def recorder(server: tuple[str, Recorder]) -> Recorder:
    return server[1]


@pytest.fixture(scope="module")
def session() -> requests.Session:
    return guarded_session(OutboundPolicy(allow=("127.0.0.0/8",)))


@contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    """A bare TCP server on 127.0.0.1 that treats each connection with `behaviour`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                behaviour(conn)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def read_request(conn: socket.socket) -> None:
    """Read one whole request, body included: closing with unread data would turn a FIN into an RST."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


# ---------------------------------------------------------------------------------------------
# answers


def test_200_returns_status_body_headers_and_duration(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "POST", f"{base}/ok", {}, '{"a": 1}', 5)
    assert attempt.status_code == 200
    assert attempt.body == b'{"ok": true}'
    assert attempt.headers["content-type"] == "application/json"
    assert attempt.headers["x-reply"] == "yes"
    assert all(name == name.lower() for name in attempt.headers)
    assert attempt.error is None and attempt.retry_after is None and attempt.blocked is False
    assert attempt.final is True and attempt.retryable is False
    assert isinstance(attempt.duration_ms, int) and 0 <= attempt.duration_ms < 5000


@pytest.mark.parametrize("code", [201, 204, 400, 401, 404, 409, 410, 422])
def test_2xx_and_4xx_are_final_without_error(base: str, session: requests.Session, code: int) -> None:
    attempt = call_target(session, "POST", f"{base}/status/{code}", {}, "{}", 5)
    assert attempt.status_code == code
    assert attempt.final is True and attempt.retryable is False
    assert attempt.error is None


def test_404_is_the_customers_answer_not_a_fault(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "GET", f"{base}/status/404", {}, None, 5)
    assert (attempt.status_code, attempt.final, attempt.retryable, attempt.error) == (404, True, False, None)
    assert attempt.body == b"status 404"


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_is_retryable_with_http_error(base: str, session: requests.Session, code: int) -> None:
    attempt = call_target(session, "POST", f"{base}/status/{code}", {}, "{}", 5)
    assert attempt.status_code == code
    assert attempt.final is False and attempt.retryable is True
    assert attempt.error == f"HTTP {code}"


def test_503_gives_http_503(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "POST", f"{base}/status/503", {}, "{}", 5)
    assert attempt.error == "HTTP 503"
    assert attempt.retryable is True


def test_429_is_retryable_and_carries_retry_after(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "POST", f"{base}/status/429?retry_after=7", {}, "{}", 5)
    assert attempt.status_code == 429
    assert attempt.retryable is True and attempt.final is False
    assert attempt.error == "HTTP 429"
    assert attempt.retry_after == 7.0


def test_503_with_retry_after_carries_it_too(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "POST", f"{base}/status/503?retry_after=120", {}, "{}", 5)
    assert attempt.retry_after == 120.0


def test_302_is_final_and_not_followed(base: str, recorder: Recorder, session: requests.Session) -> None:
    attempt = call_target(session, "POST", f"{base}/redirect", {}, "{}", 5)
    assert attempt.status_code == 302
    assert attempt.final is True and attempt.error is None
    assert attempt.headers["location"].endswith("/redirect-target")
    assert recorder.paths() == ["/redirect"]  # the redirect target was called zero times


def test_a_large_body_is_read_whole(base: str, session: requests.Session) -> None:
    attempt = call_target(session, "GET", f"{base}/big", {}, None, 5)
    assert attempt.status_code == 200
    assert len(attempt.body) == BIG


def test_a_body_beyond_the_read_limit_is_cut(
    base: str, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "MAX_RESPONSE_BYTES", 1000)
    attempt = call_target(session, "GET", f"{base}/big", {}, None, 5)
    assert attempt.status_code == 200
    assert len(attempt.body) == 1000


# ---------------------------------------------------------------------------------------------
# what is sent


def test_get_sends_no_body(base: str, recorder: Recorder, session: requests.Session) -> None:
    call_target(session, "GET", f"{base}/echo", {}, '{"ignored": true}', 5)
    [request] = recorder.requests
    assert request["method"] == "GET"
    assert request["body"] == b""
    assert request["headers"].get("Content-Length", "0") == "0"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_send_the_body_utf8(base: str, recorder: Recorder, session: requests.Session,
                                          method: str) -> None:
    call_target(session, method, f"{base}/echo", {"Content-Type": "application/json"}, '{"name": "café"}', 5)
    [request] = recorder.requests
    assert request["method"] == method
    assert request["body"] == '{"name": "café"}'.encode()
    assert request["headers"]["Content-Type"] == "application/json"


def test_custom_headers_are_sent_with_the_default_user_agent(
    base: str, recorder: Recorder, session: requests.Session
) -> None:
    call_target(session, "POST", f"{base}/echo", {"X-Api-Key": "k-123", "X-Trace": "abc"}, "{}", 5)
    headers = recorder.requests[0]["headers"]
    assert headers["X-Api-Key"] == "k-123"
    assert headers["X-Trace"] == "abc"
    assert headers["User-Agent"] == USER_AGENT == "Taskhook/1.0"


def test_a_cookie_a_target_sets_is_never_sent_again(base: str, recorder: Recorder,
                                                   session: requests.Session) -> None:
    """One session serves every team's calls: a cookie kept from one task's answer would log the
    next task, another team's, in as the first (the target's answer is the task's result)."""
    call_target(session, "POST", f"{base}/set-cookie", {}, "{}", 5)
    call_target(session, "POST", f"{base}/echo", {}, "{}", 5)
    call_target(session, "POST", f"{base}/echo", {"Cookie": "mine=1"}, "{}", 5)  # a task's own header
    first, second, third = recorder.requests
    assert first["path"] == "/set-cookie"
    assert "Cookie" not in second["headers"]
    assert third["headers"]["Cookie"] == "mine=1"
    assert not session.cookies


FRAMING = {"Transfer-Encoding": "chunked", "Content-Length": "5", "Connection": "keep-alive", "Host": "other.example",
           "TE": "trailers", "Trailer": "X-T", "Upgrade": "websocket", "Keep-Alive": "timeout=99",
           "Proxy-Connection": "keep-alive", "Expect": "100-continue"}


def test_a_stored_task_s_framing_headers_are_never_sent() -> None:
    """The session's pooled connections serve every team. A task's own `Transfer-Encoding: chunked`
    beside the Content-Length the client computes let a server that reads the chunked framing take
    the rest of its body as a second request on that connection, which the next team's call then
    completed (its vault secrets inside). Refused at create (intake/validation.py), and for a task
    stored before that, dropped here: the request is framed by the client alone."""
    seen: list[bytes] = []

    def capture(conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        seen.append(data)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    body = "0\r\n\r\nPOST /capture HTTP/1.1\r\nContent-Length: 300\r\n\r\n"
    session = guarded_session(OutboundPolicy(allow=("127.0.0.0/8",)))
    with raw_server(capture) as url:
        attempt = call_target(session, "POST", f"{url}/in", {**FRAMING, "X-Kept": "yes"}, body, 5)
        # the session's other callers (polls, output downloads, builtin.fetch_url) alike
        session.get(f"{url}/download", headers={**FRAMING, "Transfer_Encoding": "chunked", "X-Kept": "yes"},
                    timeout=5).close()
    assert attempt.status_code == 200, attempt
    for request, length in zip(seen, (str(len(body.encode())), None), strict=True):
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        sent = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head[1:]}
        assert "transfer-encoding" not in sent and "te" not in sent and "trailer" not in sent
        assert "upgrade" not in sent and "keep-alive" not in sent and "proxy-connection" not in sent
        assert "expect" not in sent and "transfer_encoding" not in sent
        assert sent.get("content-length") == length
        assert sent["host"] == url.split("//", 1)[1]
        assert sent.get("connection", "keep-alive") == "keep-alive"
        assert sent["x-kept"] == "yes"


def test_a_redirect_to_another_origin_carries_none_of_the_callers_headers(
        base: str, recorder: Recorder) -> None:
    """requests drops only Authorization (and its own cookies) when a redirect changes host; a
    caller's X-Api-Key went on to whatever host Location named (builtin.fetch_url follows redirects)."""
    session = guarded_session(OutboundPolicy(allow=("127.0.0.0/8", "::1", "localhost")))
    other = base.replace("127.0.0.1", "localhost")  # the same server, another origin
    session.get(f"{base}/redirect", params={"to": f"{other}/echo"},
                headers={"X-Api-Key": "sk-partner", "Accept": "application/pdf"}, timeout=5).close()
    session.get(f"{base}/redirect", params={"to": f"{base}/echo"}, headers={"X-Api-Key": "sk-partner"},
                timeout=5).close()
    first, crossed, again, stayed = recorder.requests
    assert first["headers"]["X-Api-Key"] == "sk-partner"
    assert "X-Api-Key" not in crossed["headers"] and crossed["path"] == "/echo"
    assert crossed["headers"]["Accept"] == "application/pdf"  # what says what to send back, not who asks
    assert stayed["headers"]["X-Api-Key"] == "sk-partner"  # the same origin: kept


def test_a_custom_user_agent_wins(base: str, recorder: Recorder, session: requests.Session) -> None:
    call_target(session, "POST", f"{base}/echo", {"User-Agent": "customer/2"}, "{}", 5)
    assert recorder.requests[0]["headers"]["User-Agent"] == "customer/2"


def test_a_post_without_body_sends_nothing(base: str, recorder: Recorder, session: requests.Session) -> None:
    call_target(session, "POST", f"{base}/echo", {}, None, 5)
    assert recorder.requests[0]["body"] == b""


# ---------------------------------------------------------------------------------------------
# failures: never raises, readable errors


def test_slow_target_times_out_after_the_attempt_timeout(
    base: str, recorder: Recorder, session: requests.Session
) -> None:
    try:
        attempt = call_target(session, "POST", f"{base}/slow", {}, "{}", 1)
    finally:
        recorder.release.set()
    assert attempt.status_code is None
    assert attempt.error == "timeout after 1s"
    assert attempt.retryable is True
    assert attempt.duration_ms >= 900


def test_nothing_listening_is_econnrefused() -> None:
    with socket.socket() as reserved:  # bound but not listening: connecting is refused
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        session = guarded_session(OutboundPolicy(allow=("127.0.0.0/8",)))
        attempt = call_target(session, "POST", f"http://127.0.0.1:{port}/hook", {}, "{}", 5)
    assert attempt.status_code is None
    assert attempt.error == "fetch failed: ECONNREFUSED"
    assert attempt.retryable is True and attempt.blocked is False


def test_accept_then_close_is_a_retryable_fetch_failure(session: requests.Session) -> None:
    with raw_server(read_request) as url:
        attempt = call_target(session, "POST", f"{url}/hook", {}, "{}", 5)
    assert attempt.status_code is None
    assert attempt.error is not None and attempt.error.startswith("fetch failed: ")
    assert attempt.error == "fetch failed: socket hang up"
    assert attempt.retryable is True


def test_connection_reset_is_econnreset(session: requests.Session) -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with raw_server(reset) as url:
        attempt = call_target(session, "POST", f"{url}/hook", {}, "{}", 5)
    assert attempt.error == "fetch failed: ECONNRESET"
    assert attempt.retryable is True


def test_garbage_instead_of_http_is_a_fetch_failure(session: requests.Session) -> None:
    def garbage(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    with raw_server(garbage) as url:
        attempt = call_target(session, "POST", f"{url}/hook", {}, "{}", 5)
    assert attempt.status_code is None
    assert (attempt.error or "").startswith("fetch failed: ")
    assert attempt.retryable is True


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://[::1/", "notaurl", "http://a@127.0.0.1/"])
def test_a_malformed_url_never_raises_and_is_not_retried(session: requests.Session, url: str) -> None:
    # The URL parser of the create-time check (model/urls.py) refuses it at call time too.
    attempt = call_target(session, "GET", url, {}, None, 1)
    assert (attempt.status_code, attempt.error, attempt.blocked) == (None, "destination not allowed", True)
    assert attempt.retryable is False


def test_a_target_dripping_its_body_is_cut_at_the_attempt_timeout(session: requests.Session) -> None:
    def drip(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
        for _ in range(4):
            time.sleep(0.3)
            conn.sendall(b"x")

    with raw_server(drip) as url:
        started = time.monotonic()
        attempt = call_target(session, "GET", f"{url}/drip", {}, None, 0.5)
        elapsed = time.monotonic() - started
    assert attempt.error == "timeout after 0.5s"
    assert elapsed < 1.0, f"a 0.5 s attempt took {elapsed:.2f} s"


# ---------------------------------------------------------------------------------------------
# Attempt semantics


@pytest.mark.parametrize("code", [200, 201, 204, 299, 301, 302, 304, 399, 400, 404, 410, 428, 430, 499])
def test_attempt_final_codes(code: int) -> None:
    attempt = Attempt(code)
    assert attempt.final is True and attempt.retryable is False


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504, 599])
def test_attempt_retryable_codes(code: int) -> None:
    attempt = Attempt(code)
    assert attempt.final is False and attempt.retryable is True


def test_no_answer_is_retryable_unless_blocked() -> None:
    assert Attempt(None, error="fetch failed: ECONNREFUSED").retryable is True
    blocked = Attempt(None, error="refused", blocked=True)
    assert blocked.final is False and blocked.retryable is False


# ---------------------------------------------------------------------------------------------
# Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 12 ", 12.0), ("0", 0.0), (None, None), ("", None), ("soon", None), ("1.5", None), ("-3", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future() -> None:
    value = format_datetime(utcnow() + timedelta(seconds=120), usegmt=True)
    parsed = parse_retry_after(value)
    assert parsed is not None and 115 <= parsed <= 120


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ---------------------------------------------------------------------------------------------
# result document


def test_result_document_inline() -> None:
    attempt = Attempt(201, headers={"content-type": "application/json"}, body=b'{"id": 7}', duration_ms=42)
    assert result_document(attempt, 256 * 1024, None) == {
        "statusCode": 201,
        "headers": {"content-type": "application/json"},
        "body": '{"id": 7}',
        "duration": 42,
    }


def test_result_document_points_to_a_stored_large_body() -> None:
    attempt = Attempt(200, body=b"a" * 11, duration_ms=5)
    doc = result_document(attempt, 10, "results/team/task/body")
    assert doc == {"statusCode": 200, "headers": {}, "duration": 5, "bodyKey": "results/team/task/body",
                   "bodySize": 11}


def test_result_document_keeps_a_body_at_the_limit_inline() -> None:
    doc = result_document(Attempt(200, body=b"a" * 10), 10, "key")
    assert doc["body"] == "a" * 10
    assert "bodyKey" not in doc


def test_result_document_without_a_key_stays_inline() -> None:
    assert result_document(Attempt(200, body=b"a" * 11), 10, None)["body"] == "a" * 11


def test_result_document_replaces_undecodable_bytes() -> None:
    doc = result_document(Attempt(200, body=b"ok\xff"), 100, None)
    assert doc["body"] == "ok\ufffd"
    json.dumps(doc)
