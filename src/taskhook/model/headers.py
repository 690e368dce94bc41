"""What a header a client asks Taskhook to send may contain (checked at create time, so that what is
stored can be sent as it is): a token for a name (RFC 9110), and for a value no control character
but the tab (no NUL, CR or LF), no leading white space, and nothing outside ISO-8859-1 (which is
all HTTP/1.1 carries).

No framing or hop-by-hop header (FRAMING_HEADERS): the outbound session's pooled connections serve
every team, and a task's `Transfer-Encoding: chunked` beside the client's own Content-Length let a
server that reads the chunked framing take the rest of the body as the start of a second request,
which the next team's call on that connection completed. The HTTP client frames each request."""

from __future__ import annotations

import re
import unicodedata

_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# How a request is delimited and carried, and where (Host: the URL's authority), lower case:
# RFC 9112 §6 and RFC 9110 §7.6.1 (Connection and the hop-by-hop fields it names), and Expect.
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "te", "trailer", "connection",
                             "keep-alive", "proxy-connection", "upgrade", "expect"})


def is_framing_header(name: str) -> bool:
    """Case aside, and `_` for `-` (some servers and proxies read Transfer_Encoding as Transfer-Encoding)."""
    return name.lower().replace("_", "-") in FRAMING_HEADERS


def framing_error(name: str) -> str:
    return f"headers must not set {name}: Taskhook frames each request itself"


def without_framing(headers: dict[str, str]) -> dict[str, str]:
    """The headers a stored task may carry from before FRAMING_HEADERS were refused, without them."""
    if not any(is_framing_header(name) for name in headers):
        return headers
    return {name: value for name, value in headers.items() if not is_framing_header(name)}


def is_header_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def is_header_value(value: object) -> bool:
    if not isinstance(value, str) or value[:1] in (" ", "\t"):
        return False
    if any(ch != "\t" and unicodedata.category(ch) == "Cc" for ch in value):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
