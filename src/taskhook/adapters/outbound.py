"""The outbound policy: which addresses a customer URL may reach (the SSRF guard's rule), checked
at create time and again on every connection (adapters/http.py pins the checked addresses). Apart
from the HTTP client so that the API's create path, which only checks URLs, does not import it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from taskhook.model.errors import BlockedTarget
from taskhook.model.urls import InvalidUrl, parse_http_url

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
    # Ports refused on every address only the allow-list opens (a non-global one, or a named host):
    # the local stack's own services on loopback (TASKHOOK_OUTBOUND_DENY_PORTS, infra/local_stack.py).
    deny_ports: tuple[int, ...] = ()

    def _denied(self, host: str, addresses: list[str], port: int | None) -> bool:
        if port is None or port not in self.deny_ports:
            return False
        if self._allowed_host(host):
            return True
        return any((ip := _ip(address)) is None or not ip.is_global for address in addresses)

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

    def pinned_addresses(self, host: str, port: int | None = None) -> list[str]:
        """The addresses a connection to `host` (a canonical host, model/urls.py) on `port` may use:
        all the addresses it resolves to, each checked. BlockedTarget when any is refused; the
        resolver's error (OSError, UnicodeError) when it does not resolve."""
        addresses = [host] if _ip(host) is not None else self.resolve(host)
        if self._denied(host, addresses, port):
            raise BlockedTarget(DESTINATION_NOT_ALLOWED)
        if self._allowed_host(host):
            return addresses
        if not addresses or not all(self.address_allowed(address) for address in addresses):
            raise BlockedTarget(DESTINATION_NOT_ALLOWED)
        return addresses

    def check_url(self, url: str, field: str = "targetUrl", strict_dns: bool = False) -> None:
        """Raise BlockedTarget when `url` may not be called. A host that does not resolve now is
        let through unless `strict_dns` (it is checked again when the call is made)."""
        try:
            parsed = parse_http_url(url)
        except InvalidUrl:
            raise BlockedTarget(f"{field} must be a valid HTTP/HTTPS URL") from None
        host = parsed.host
        if self._allowed_host(host) and parsed.port not in self.deny_ports:
            return  # an operator-named host: nothing to resolve now
        try:
            self.pinned_addresses(host, parsed.port)
        except BlockedTarget:
            if parsed.port in self.deny_ports:
                raise BlockedTarget(f"{field} port {parsed.port} is refused here: {DESTINATION_NOT_ALLOWED}") from None
            raise BlockedTarget(
                f"{field} resolves to a private, loopback or link-local address: {DESTINATION_NOT_ALLOWED}"
            ) from None
        except (OSError, UnicodeError):
            if strict_dns:
                raise BlockedTarget(f"{field} host {host} does not resolve") from None
