"""What one HTTP attempt produced, and what its answer means (the pure status-code rule shared by
the executor and the notification deliverer). Making the call: adapters/http.py."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attempt:
    """What one call produced. `status_code` is None when no HTTP answer came."""

    status_code: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    duration_ms: int = 0
    error: str | None = None
    retry_after: float | None = None
    blocked: bool = False

    @property
    def final(self) -> bool:
        """2xx, 3xx and 4xx are the customer's answer (no retry); 429 is back-pressure."""
        return self.status_code is not None and self.status_code < 500 and self.status_code != 429

    @property
    def retryable(self) -> bool:
        return not self.final and not self.blocked


def result_document(attempt: Attempt, inline_limit: int, stored_key: str | None) -> dict[str, Any]:
    """`result` as seed 002 shows it: statusCode, headers, body, duration (ms). A body over
    `inline_limit` bytes lives in S3 under `stored_key` instead."""
    doc: dict[str, Any] = {"statusCode": attempt.status_code, "headers": attempt.headers,
                           "duration": attempt.duration_ms}
    if stored_key is not None and len(attempt.body) > inline_limit:
        doc["bodyKey"] = stored_key
        doc["bodySize"] = len(attempt.body)
    else:
        doc["body"] = attempt.body.decode("utf-8", errors="replace")
    return doc


_ERRNO_NAMES = {
    errno.ECONNREFUSED: "ECONNREFUSED",
    errno.ECONNRESET: "ECONNRESET",
    errno.EHOSTUNREACH: "EHOSTUNREACH",
    errno.ENETUNREACH: "ENETUNREACH",
    errno.EPIPE: "EPIPE",
}


def network_error(exc: BaseException) -> str:
    """A short readable reason, in the spirit of seed 002's `fetch failed: ECONNREFUSED`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNO_NAMES:
            return f"fetch failed: {_ERRNO_NAMES[current.errno]}"
        text = str(current)
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "fetch failed: ENOTFOUND"
        if "RemoteDisconnected" in type(current).__name__ or "Remote end closed" in text:
            return "fetch failed: socket hang up"
        if "Connection refused" in text:
            return "fetch failed: ECONNREFUSED"
        if "Connection reset" in text or "ConnectionResetError" in text:
            return "fetch failed: ECONNRESET"
        current = current.__cause__ or current.__context__ or (current.args[0] if current.args and
                                                                 isinstance(current.args[0], BaseException) else None)
    return f"fetch failed: {type(exc).__name__}"
