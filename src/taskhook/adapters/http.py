"""Outbound calls to customer URLs: the SSRF guard (DESIGN.md §3 Security).

A URL is refused when its scheme is not http(s) or when its host resolves to an address that is
not globally routable (loopback, private, link-local such as 169.254.169.254, shared, reserved,
multicast, unspecified), unless an operator allow-list (TASKHOOK_OUTBOUND_ALLOW: host names and
CIDR ranges) names it. The check runs at create time and again on the socket actually connected
(so a DNS answer that changes between the two, or a redirect, cannot reach a refused address).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]


class BlockedTarget(Exception):
    """The URL may not be called: a validation error at create time, a final failure later."""


def _system_resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _ip(value: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
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
        return host.lower().rstrip(".") in {e.lower() for e in self.allow}

    def address_allowed(self, address: str) -> bool:
        ip = _ip(address)
        if ip is None:
            return False
        if any(ip in net for net in self._allowed_networks()):
            return True
        return ip.is_global and not ip.is_multicast

    def check_url(self, url: str, field: str = "targetUrl", strict_dns: bool = False) -> None:
        """Raise BlockedTarget when `url` may not be called. A host that does not resolve now is
        let through unless `strict_dns` (it is checked again when the call is made)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedTarget(f"{field} must be a valid HTTP/HTTPS URL")
        host = parts.hostname
        if self._allowed_host(host):
            return
        literal = _ip(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self.resolve(host)
            except (OSError, UnicodeError):
                if strict_dns:
                    raise BlockedTarget(f"{field} host {host} does not resolve") from None
                return
        for address in addresses:
            if not self.address_allowed(address):
                raise BlockedTarget(
                    f"{field} resolves to a private, loopback or link-local address ({address}), "
                    "which Taskhook does not call"
                )


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


def _guard(connection: Any, policy: OutboundPolicy) -> None:
    sock = connection.sock
    peer = sock.getpeername()[0] if sock is not None else None
    if peer is None or policy._allowed_host(connection.host) or policy.address_allowed(peer):
        return
    connection.close()
    raise BlockedTarget(f"connection to {peer} refused: private, loopback or link-local address")


def _connection_classes(policy: OutboundPolicy) -> tuple[type, type]:
    class GuardedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            _watch(self.sock)
            _guard(self, policy)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watch(self.sock)  # a pooled connection reused for this attempt
            super().request(*args, **kwargs)

    class GuardedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            _watch(self.sock)
            _guard(self, policy)

        def request(self, *args: Any, **kwargs: Any) -> None:
            _watch(self.sock)
            super().request(*args, **kwargs)

    return GuardedHTTPConnection, GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections check the address they actually reached."""

    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_cls, https_cls = _connection_classes(self._policy)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


def guarded_session(policy: OutboundPolicy, pool_size: int = 32) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we check what we connect to
    adapter = GuardedAdapter(policy, pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
