"""Outbound calls to customer URLs: the SSRF guard (DESIGN.md §3 Security) and the call itself.

A URL is refused when it is not one `model/urls.py` accepts (http or https, no userinfo, no
backslash, no control character, a canonical host) or when its host resolves to an address that
is not globally routable (loopback, private, link-local such as 169.254.169.254, shared, reserved,
multicast, unspecified), unless an operator allow-list (TASKHOOK_OUTBOUND_ALLOW: host names and
CIDR ranges) names it. The check runs at create time and again when each connection is made: the
connection resolves its host once, checks every address, and connects only to an address it
checked (pinned), so a DNS answer that changes between the two, or a redirect, cannot reach a
refused address, and a refused address never sees a packet. A refused call says only
"destination not allowed": nothing tells whether anything listens there. No proxies.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from taskhook.adapters.outbound import DESTINATION_NOT_ALLOWED, OutboundPolicy
from taskhook.model.attempt import Attempt, network_error
from taskhook.model.clock import utcnow
from taskhook.model.errors import BlockedTarget
from taskhook.model.headers import without_framing
from taskhook.model.limits import MAX_RESPONSE_BYTES
from taskhook.model.polling import same_origin
from taskhook.model.urls import InvalidUrl, canonical_host, parse_http_url

_attempt = threading.local()


@contextmanager
def attempt_deadline(seconds: float) -> Iterator[threading.Event]:
    """Shut down every socket this thread uses for the attempt once `seconds` have passed; the
    returned event says whether that happened (so the caller reports a timeout)."""
    fired = threading.Event()
    sockets: list[socket.socket] = []
    lock = threading.Lock()

    def expire() -> None:
        with lock:
            fired.set()
            for sock in sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def watch(sock: socket.socket) -> None:
        with lock:
            sockets.append(sock)
            if fired.is_set():
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    _attempt.watch = watch
    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
        _attempt.watch = None


def _watch(sock: Any) -> None:
    watch = getattr(_attempt, "watch", None)
    if watch is not None and sock is not None:
        watch(sock)


def _pinned_socket(connection: HTTPConnection, policy: OutboundPolicy) -> socket.socket:
    """urllib3's `_new_conn`, guarded: resolve the host once, check every address, connect only to
    a checked one. The TLS layer above still verifies the certificate for (and sends SNI with)
    `connection.host`, the name, not the address."""
    if getattr(connection, "proxy", None) is not None or getattr(connection, "_tunnel_host", None):
        raise BlockedTarget(DESTINATION_NOT_ALLOWED)  # no proxies: we check what we connect to
    try:
        host = canonical_host(connection.host)
    except InvalidUrl:
        raise BlockedTarget(DESTINATION_NOT_ALLOWED) from None
    try:
        addresses = policy.pinned_addresses(host, connection.port)
    except (OSError, UnicodeError) as exc:
        reason = exc if isinstance(exc, socket.gaierror) else socket.gaierror(str(exc))
        raise NameResolutionError(connection.host, connection, reason) from exc
    error: OSError | None = None
    for address in addresses:
        try:
            sock = urllib3_connection.create_connection(
                (address, connection.port), connection.timeout,
                source_address=connection.source_address, socket_options=connection.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                connection, f"Connection to {connection.host} timed out. (connect timeout={connection.timeout})"
            ) from exc
        except OSError as exc:
            error = exc
            continue
        _watch(sock)
        sys.audit("http.client.connect", connection, connection.host, connection.port)
        return sock
    raise NewConnectionError(connection, f"Failed to establish a new connection: {error}") from error


def _connection_classes(policy: OutboundPolicy) -> tuple[type[HTTPConnection], type[HTTPSConnection]]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_socket(self, policy)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watch(self.sock)  # a pooled connection reused for this attempt
            super().request(*args, **kwargs)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _pinned_socket(self, policy)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watch(self.sock)
            super().request(*args, **kwargs)

    return GuardedHTTPConnection, GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only to addresses the policy checked."""

    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_cls, https_cls = _connection_classes(self._policy)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """A proxy's pools are not guarded: refused (the session sets none; a caller's `proxies=` lands here)."""
        raise BlockedTarget(DESTINATION_NOT_ALLOWED)


# What a redirect to another origin still carries of a caller's headers: what to send back, never who asks.
REDIRECT_KEPT = frozenset({"user-agent", "accept", "accept-encoding", "accept-language"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})  # requests' own, for a 307/308 body


class GuardedSession(requests.Session):
    """requests drops only Authorization (and its own cookies) when a redirect leaves the host: a
    caller's X-Api-Key went on to whatever host `Location` named (builtin.fetch_url follows
    redirects). Leaving the origin (scheme, host, port), only REDIRECT_KEPT and what requests sets
    for the body go on."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Every call through this session (a task's target, its polls and output downloads,
        builtin.fetch_url) is framed by the client alone: a caller's framing headers are dropped
        (model/headers.py; refused at create, and a task stored before may still hold them)."""
        if kwargs.get("headers"):
            kwargs["headers"] = without_framing(dict(kwargs["headers"]))
        return super().request(method, url, *args, **kwargs)

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if not same_origin(prepared_request.url, response.request.url):
            kept = REDIRECT_KEPT | _BODY_HEADERS if prepared_request.body else REDIRECT_KEPT
            for name in [name for name in prepared_request.headers if name.lower() not in kept]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


def guarded_session(policy: OutboundPolicy, pool_size: int = 32, hosts: int | None = None) -> requests.Session:
    """A session whose connections pass the policy: `hosts` hosts' pools kept (default `pool_size`),
    each keeping up to `pool_size` idle connections."""
    session = GuardedSession()
    session.trust_env = False  # no proxies from the environment: we check what we connect to
    # A session calls many tasks' URLs: a cookie one answer set would go with the next call to that
    # host, another task's (whose result shows what the cookie opened). None is kept.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = GuardedAdapter(policy, pool_connections=hosts or pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class TeamSessions:
    """One guarded session, so connections of its own, per team: `sessions(team)`. A kept-alive
    connection of ours carries one team's requests only. With one pool for all, a target host that
    read a request's end otherwise than our client wrote it (a desync: a front end that ignores
    Content-Length on some route, say) took what one team's request body held as the start of the
    next request on that connection, and the next request there, another team's with its resolved
    `tok_` secret, became part of it. (A desync between the target's own proxy and its origin, on
    their connection, is beyond what a client can prevent.)

    Idle sockets stay bounded (Lambda allows 1,024 descriptors): the `most` teams used last keep
    their sessions, each with the pools of its `hosts` hosts used last, and a session unused for
    `idle` seconds is closed. A closed session's pools are dropped: a request still running on one
    ends normally, and its connection is then closed, not kept."""

    def __init__(self, policy: OutboundPolicy, pool_size: int = 32, hosts: int = 4, most: int = 32,
                 idle: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._pool_size = pool_size
        self._hosts = hosts
        self._most = most
        self._idle = idle
        self._clock = clock
        self._sessions: OrderedDict[str, tuple[requests.Session, float]] = OrderedDict()  # LRU first
        self._lock = threading.Lock()

    def __call__(self, team: str) -> requests.Session:
        now = self._clock()
        closing: list[requests.Session] = []
        with self._lock:
            kept = self._sessions.pop(team, None)
            while self._sessions:  # the least recently used first: unused too long, or one too many
                oldest, (session, used) = next(iter(self._sessions.items()))
                if now - used < self._idle and len(self._sessions) < self._most:
                    break
                del self._sessions[oldest]
                closing.append(session)
            session = kept[0] if kept else guarded_session(self._policy, self._pool_size, self._hosts)
            self._sessions[team] = (session, now)
        for old in closing:
            old.close()
        return session

    def __len__(self) -> int:
        return len(self._sessions)


# ---- one call ---------------------------------------------------------------------------

USER_AGENT = "Taskhook/1.0"


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def call_target(
    session: requests.Session,
    method: str,
    url: str,
    headers: dict[str, str],
    body: str | None,
    timeout: float,
) -> Attempt:
    """Make the request; never raises. `timeout` bounds the whole attempt, body included."""
    started = time.monotonic()
    try:
        url = parse_http_url(url).url  # the same parser as at create time; its host is what we connect to
    except InvalidUrl:
        return Attempt(None, error=DESTINATION_NOT_ALLOWED, blocked=True)
    data = None if method == "GET" else (body.encode("utf-8") if body is not None else None)
    send_headers = {"User-Agent": USER_AGENT, **headers}  # framing headers: dropped by GuardedSession

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    with attempt_deadline(timeout) as expired:
        try:
            response = session.request(
                method, url, headers=send_headers, data=data, timeout=(min(timeout, 10), timeout),
                allow_redirects=False, stream=True,
            )
            chunks: list[bytes] = []
            size = 0
            with response:
                for chunk in response.iter_content(64 * 1024):
                    chunks.append(chunk)
                    size += len(chunk)
                    if time.monotonic() - started > timeout:
                        return Attempt(None, duration_ms=elapsed_ms(), error=f"timeout after {timeout:g}s")
                    if size >= MAX_RESPONSE_BYTES:
                        break
            payload = b"".join(chunks)[:MAX_RESPONSE_BYTES]
            code = response.status_code
            return Attempt(
                status_code=code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=payload,
                duration_ms=elapsed_ms(),
                error=None if code < 500 and code != 429 else f"HTTP {code}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        except BlockedTarget as exc:
            return Attempt(None, duration_ms=elapsed_ms(), error=str(exc), blocked=True)
        except (requests.Timeout, TimeoutError):
            return Attempt(None, duration_ms=elapsed_ms(), error=f"timeout after {timeout:g}s")
        except requests.RequestException as exc:
            if expired.is_set():
                return Attempt(None, duration_ms=elapsed_ms(), error=f"timeout after {timeout:g}s")
            if isinstance(exc.__context__, BlockedTarget):
                return Attempt(None, duration_ms=elapsed_ms(), error=str(exc.__context__), blocked=True)
            return Attempt(None, duration_ms=elapsed_ms(), error=network_error(exc))
