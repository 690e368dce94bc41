"""What counts as a callable URL's shape (http or https, a host, a valid port, no white space, not
too long): the same check at create time and wherever a URL is taken later. Whether its host may be
called is the outbound guard's question (adapters/http.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from taskhook.model.limits import MAX_URL_LENGTH


def is_http_url(value: str) -> bool:
    if len(value) > MAX_URL_LENGTH or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        return False
    del port
    return parts.scheme in ("http", "https") and bool(parts.hostname)
