"""Issue 11, item 2: the outbound guard checks BEFORE connecting, and connects only to what it checked.

Real listeners on 127.0.0.x (Linux answers the whole 127/8) count every TCP connection they get,
accepted or not: a refused destination must receive none, whether or not anything listens there,
and the error must be the same "destination not allowed" either way (no port scanner)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from taskhook.adapters.http import OutboundPolicy, call_target, guarded_session
from taskhook.model.errors import BlockedTarget
from taskhook.run.functions.builtin import fetch_url as fetch_module
from taskhook.run.functions.context import TaskFailed
from tests.support.listeners import Listener

PUBLIC = "93.184.216.34"
REFUSED = "destination not allowed"




@pytest.fixture
def listener() -> Iterator[Listener]:
    port = Listener("127.0.0.3")
    yield port
    port.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.4 that is bound but not listening: a connection there would be refused."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.4", 0))
        yield reserved.getsockname()[1]


class Resolver:
    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


def _call(policy: OutboundPolicy, url: str) -> Any:
    return call_target(guarded_session(policy), "GET", url, {}, None, 5)


# ---- nothing reaches a refused address; the answer says nothing about it ----------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_forbidden_open_port_receives_no_connection(listener: Listener, scheme: str) -> None:
    attempt = _call(OutboundPolicy(), f"{scheme}://127.0.0.3:{listener.port}/")
    assert (attempt.error, attempt.blocked, attempt.retryable, attempt.status_code) == (REFUSED, True, False, None)
    assert listener.connections() == 0  # before the fix: one ClientHello per attempt, three attempts


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_open_and_closed_forbidden_ports_answer_identically(listener: Listener, closed_port: int,
                                                            scheme: str) -> None:
    open_answer = _call(OutboundPolicy(), f"{scheme}://127.0.0.3:{listener.port}/")
    closed_answer = _call(OutboundPolicy(), f"{scheme}://127.0.0.4:{closed_port}/")
    assert (open_answer.error, open_answer.blocked) == (closed_answer.error, closed_answer.blocked) == (REFUSED, True)
    assert listener.connections() == 0


def test_a_name_that_resolves_to_a_forbidden_address_at_call_time_is_never_connected(listener: Listener) -> None:
    dns = Resolver([PUBLIC], ["127.0.0.3"])  # public when the task is created, loopback when it runs
    policy = OutboundPolicy(resolve=dns)
    url = f"http://rebind.example:{listener.port}/"
    policy.check_url(url)  # create time: allowed
    attempt = _call(policy, url)
    assert (attempt.error, attempt.blocked) == (REFUSED, True)
    assert dns.asked == ["rebind.example", "rebind.example"]
    assert listener.connections() == 0


def test_one_forbidden_address_among_public_ones_refuses_the_connection(listener: Listener) -> None:
    policy = OutboundPolicy(resolve=Resolver([PUBLIC, "127.0.0.3"]))
    assert _call(policy, f"http://mixed.example:{listener.port}/").error == REFUSED
    assert listener.connections() == 0


def test_localhost_is_refused_without_an_allow_list(listener: Listener) -> None:
    with socket.socket() as loop:  # `localhost` resolves (system DNS) to 127.0.0.1
        loop.bind(("127.0.0.1", 0))
        loop.listen(8)
        loop.setblocking(False)
        attempt = _call(OutboundPolicy(), f"http://localhost:{loop.getsockname()[1]}/")
        assert (attempt.error, attempt.blocked) == (REFUSED, True)
        with pytest.raises(BlockingIOError):
            loop.accept()


def test_the_guard_raises_blocked_target_from_the_session(listener: Listener) -> None:
    with pytest.raises(BlockedTarget, match=f"^{REFUSED}$"):
        guarded_session(OutboundPolicy()).get(f"http://127.0.0.3:{listener.port}/", timeout=5)
    assert listener.connections() == 0


def test_a_proxy_is_refused_before_anything_is_sent(listener: Listener) -> None:
    proxy = f"http://127.0.0.3:{listener.port}"
    with pytest.raises(BlockedTarget, match=f"^{REFUSED}$"):
        guarded_session(OutboundPolicy(allow=("127.0.0.0/8",))).get(
            "http://example.invalid/", proxies={"http": proxy, "https": proxy}, timeout=5)
    assert listener.connections() == 0


# ---- what is allowed is reached at the address that was checked --------------------------------


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    redirect_to = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        Recorder.seen.append({"path": self.path, "host": self.headers.get("Host", "")})
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", Recorder.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.5", 0), Recorder)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_an_allowed_name_is_resolved_once_and_connected_at_the_checked_address(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    dns = Resolver(["127.0.0.5"])  # svc.example exists only in this resolver: the system's is never asked
    attempt = _call(OutboundPolicy(allow=("127.0.0.5/32",), resolve=dns), f"http://svc.example:{port}/pinned")
    assert (attempt.status_code, attempt.body) == (200, b"ok")
    assert dns.asked == ["svc.example"]
    assert Recorder.seen == [{"path": "/pinned", "host": f"svc.example:{port}"}]


def test_a_redirect_to_a_forbidden_address_is_not_followed_into(server: ThreadingHTTPServer,
                                                                listener: Listener) -> None:
    Recorder.redirect_to = f"http://127.0.0.3:{listener.port}/internal"
    session = guarded_session(OutboundPolicy(allow=("127.0.0.5/32",)))
    with pytest.raises(BlockedTarget, match=f"^{REFUSED}$"):
        session.get(f"http://127.0.0.5:{server.server_address[1]}/redirect", timeout=5)
    assert [seen["path"] for seen in Recorder.seen] == ["/redirect"]
    assert listener.connections() == 0


class FakeTask:
    def __init__(self, http: requests.Session) -> None:
        self.http = http


def test_fetch_url_fails_with_destination_not_allowed_and_reaches_nothing(listener: Listener) -> None:
    dns = Resolver(["127.0.0.3"])
    task: Any = FakeTask(guarded_session(OutboundPolicy(resolve=dns)))
    with pytest.raises(TaskFailed, match=f"^{REFUSED}$"):
        fetch_module._get(task, f"https://files.example:{listener.port}/report.pdf", {})
    assert listener.connections() == 0


def test_fetch_url_network_errors_are_short_and_name_no_pool_or_host(closed_port: int) -> None:
    """Review of issue 11: a refused connection surfaced as the raw requests text
    ("ConnectionError: HTTPConnectionPool(host=..., port=...) ..."); it reads like an HTTP task's."""
    task: Any = FakeTask(guarded_session(OutboundPolicy(allow=("127.0.0.0/8",))))
    with pytest.raises(Exception) as raised:
        fetch_module._get(task, f"http://127.0.0.1:{closed_port}/report.pdf", {})
    assert str(raised.value) == "fetch failed: ECONNREFUSED"
    assert not isinstance(raised.value, TaskFailed)  # a network error stays retryable


# ---- TLS: the certificate is still verified for the name, not the pinned address ---------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str | None]]]:
    cert, key = _certificate(tmp_path, "svc.example")
    sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc,return-value]
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.5", 0), Recorder)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1], cert, sni
    httpd.shutdown()
    httpd.server_close()


def test_tls_verifies_the_host_name_while_connecting_to_the_pinned_address(
    tls_server: tuple[int, Path, list[str | None]],
) -> None:
    port, cert, sni = tls_server
    session = guarded_session(OutboundPolicy(allow=("127.0.0.5/32",), resolve=Resolver(["127.0.0.5"])))
    session.verify = str(cert)
    attempt = call_target(session, "GET", f"https://svc.example:{port}/tls", {}, None, 5)
    assert attempt.status_code == 200, attempt.error
    assert sni == ["svc.example"]


def test_tls_still_refuses_a_certificate_for_another_name(tls_server: tuple[int, Path, list[str | None]]) -> None:
    port, cert, _ = tls_server
    session = guarded_session(OutboundPolicy(allow=("127.0.0.5/32",), resolve=Resolver(["127.0.0.5"])))
    session.verify = str(cert)
    attempt = call_target(session, "GET", f"https://other.example:{port}/tls", {}, None, 5)
    assert attempt.status_code is None and attempt.blocked is False
    assert Recorder.seen == []
