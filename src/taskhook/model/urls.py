"""The one parser for every URL Taskhook calls: at create time (targetUrl, onCompleteUrl,
callback_url, fetch_url's url) and at call time (adapters/http.py sends `HttpUrl.url` and its
connections check `canonical_host` of the host they connect to). Whether the host may be called is
the outbound guard's question (adapters/http.py).

It parses with urllib3's `parse_url` (what requests connects with) and refuses anything where
`urllib.parse` reads the URL differently, plus every form that has been used to smuggle a host
past a check: backslashes, userinfo (`user@host`), control characters (NUL, CR, LF, …) and white
space anywhere, percent-encoded hosts (`%31%36%39.254.169.254`), non-ASCII hosts (send the
`xn--` form), and IPv4 addresses in any but the dotted-quad form (`2130706433`, `0x7f.1`,
`0177.0.0.1`, `127.1`). A trailing dot (`169.254.169.254.`) names the same host as without it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from taskhook.model.limits import MAX_HOST_LENGTH, MAX_URL_LENGTH

SCHEMES = {"http": 80, "https": 443}
_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")  # WHATWG: a host "ending in a number" is IPv4


class InvalidUrl(ValueError):
    """Not a URL Taskhook calls (the reason is for logs and tests, not for clients)."""


@dataclass(frozen=True)
class HttpUrl:
    scheme: str
    host: str  # canonical: lower case, no trailing dot, an IPv6 address without brackets
    port: int  # the explicit port or the scheme's default
    url: str  # the normalised URL that is sent; its host is `host`


def canonical_host(host: str) -> str:
    """`host` in the one form the guard checks and the connection uses; InvalidUrl for a host
    that could be read two ways."""
    if not host or not host.isascii() or "%" in host:
        raise InvalidUrl("host must be plain ASCII, not percent-encoded")
    inner = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in inner:
        try:
            return ipaddress.IPv6Address(inner).compressed
        except ValueError:
            raise InvalidUrl("not an IPv6 address") from None
    name = inner.lower()
    if name.endswith("."):
        name = name[:-1]
    labels = name.split(".")
    if len(name) > MAX_HOST_LENGTH or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidUrl("not a host name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            address = ipaddress.IPv4Address(name)
        except ValueError:
            raise InvalidUrl("an IPv4 address must be written as four decimal numbers") from None
        if str(address) != name:
            raise InvalidUrl("an IPv4 address must be written as four decimal numbers")
    return name


def _refused_character(value: str) -> bool:
    return any(ch == "\\" or ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value)


def parse_http_url(value: object) -> HttpUrl:
    """The URL as Taskhook will call it, or InvalidUrl."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        raise InvalidUrl("not a URL of acceptable length")
    if _refused_character(value):
        raise InvalidUrl("backslash, white space or control character")
    try:
        split = urlsplit(value)
        split_port = split.port
        parsed = parse_url(value)
    except (ValueError, LocationParseError):
        raise InvalidUrl("unparseable") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in SCHEMES or split.scheme.lower() != scheme:
        raise InvalidUrl("not http or https")
    if "@" in split.netloc or "%" in split.netloc or parsed.auth is not None:
        raise InvalidUrl("userinfo or a percent-encoded host")
    if not parsed.host or not split.hostname:
        raise InvalidUrl("no host")
    host = canonical_host(parsed.host)
    if canonical_host(split.hostname) != host or split_port != parsed.port:
        raise InvalidUrl("urllib.parse and urllib3 read different hosts or ports")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise InvalidUrl("port out of range")
    shown = f"[{host}]" if ":" in host else host
    url = Url(scheme=scheme, host=shown, port=parsed.port, path=parsed.path or "/", query=parsed.query).url
    return HttpUrl(scheme=scheme, host=host, port=parsed.port or SCHEMES[scheme], url=url)


def target_host(url: object) -> str | None:
    """The canonical host a URL calls, None when it is not one Taskhook calls."""
    try:
        return parse_http_url(url).host
    except InvalidUrl:
        return None


def is_http_url(value: object) -> bool:
    try:
        parse_http_url(value)
    except InvalidUrl:
        return False
    return True


class OutboundUrlMarker:
    """`Annotated[str, OUTBOUND_URL]` on a function task's argument: a URL the function will call,
    so intake checks it against the outbound policy when the task is created (as targetUrl is)."""

    def __repr__(self) -> str:
        return "OUTBOUND_URL"


OUTBOUND_URL = OutboundUrlMarker()
