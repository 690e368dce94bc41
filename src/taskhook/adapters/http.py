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

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from taskhook.model.attempt import Attempt, network_error
from taskhook.model.clock import utcnow
from taskhook.model.errors import BlockedTarget
from taskhook.model.limits import MAX_RESPONSE_BYTES
from taskhook.model.urls import InvalidUrl, canonical_host, parse_http_url

DESTINATION_NOT_ALLOWED = "destination not allowed"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-compatible (::a.b.c.d,
# deprecated) and IPv4-translated (::ffff:0:a.b.c.d). They are judged as that IPv4 address.
_EMBEDS_V4 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))
# Ranges Python's is_global calls global that no public target lives in: site-local (deprecated),
# local-use NAT64, Teredo.
_NEVER_GLOBAL = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"),
                 ipaddress.ip_network("2001::/32"))
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]


def _system_resolve(host: str) -> list[str]:
    """Every address `host` resolves to, in getaddrinfo's order (the order to connect in)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ip(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:  # 2002:a.b.c.d::/48
        return address.sixtofour
    if address in _NAT64 or (any(address in net for net in _EMBEDS_V4) and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class OutboundPolicy:
    allow: tuple[str, ...] = ()
    resolve: Resolver = _system_resolve

    def _allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        networks = []
        for entry in self.allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        return networks

    def _allowed_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in {e.lower().rstrip(".") for e in self.allow}

    def address_allowed(self, address: str) -> bool:
        ip = _ip(address)
        if ip is None:
            return False
        if any(ip in net for net in self._allowed_networks()):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _NEVER_GLOBAL):
            return False
        return ip.is_global and not ip.is_multicast

    def opens_any(self, *networks: str) -> bool:
        """Whether the allow-list opens any part of these ranges or names any of these host names
        (the local stack's banner says what its policy allows)."""
        ranges = []
        for entry in networks:
            try:
                ranges.append(ipaddress.ip_network(entry))
            except ValueError:
                if self._allowed_host(entry):
                    return True
        return any(allowed.version == wanted.version and allowed.overlaps(wanted)  # type: ignore[arg-type]
                   for allowed in self._allowed_networks() for wanted in ranges)

    def pinned_addresses(self, host: str) -> list[str]:
        """The addresses a connection to `host` (a canonical host, model/urls.py) may use: all the
        addresses it resolves to, each checked. BlockedTarget when any is refused; the resolver's
        error (OSError, UnicodeError) when it does not resolve."""
        addresses = [host] if _ip(host) is not None else self.resolve(host)
        if self._allowed_host(host):
            return addresses
        if not addresses or not all(self.address_allowed(address) for address in addresses):
            raise BlockedTarget(DESTINATION_NOT_ALLOWED)
        return addresses

    def check_url(self, url: str, field: str = "targetUrl", strict_dns: bool = False) -> None:
        """Raise BlockedTarget when `url` may not be called. A host that does not resolve now is
        let through unless `strict_dns` (it is checked again when the call is made)."""
        try:
            host = parse_http_url(url).host
        except InvalidUrl:
            raise BlockedTarget(f"{field} must be a valid HTTP/HTTPS URL") from None
        if self._allowed_host(host):
            return  # an operator-named host: nothing to resolve now
        try:
            self.pinned_addresses(host)
        except BlockedTarget:
            raise BlockedTarget(
                f"{field} resolves to a private, loopback or link-local address: {DESTINATION_NOT_ALLOWED}"
            ) from None
        except (OSError, UnicodeError):
            if strict_dns:
                raise BlockedTarget(f"{field} host {host} does not resolve") from None


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
        addresses = policy.pinned_addresses(host)
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


def guarded_session(policy: OutboundPolicy, pool_size: int = 32) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we check what we connect to
    adapter = GuardedAdapter(policy, pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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
    send_headers = {"User-Agent": USER_AGENT, **headers}

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
