"""One HTTP attempt at a task's target, and what its answer means for the task."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from taskhook.adapters.http import BlockedTarget, attempt_deadline
from taskhook.model.clock import utcnow

MAX_RESPONSE_BYTES = 10 * 1024 * 1024  # read no more of a response than this
USER_AGENT = "Taskhook/1.0"
_ERRNO_NAMES = {
    errno.ECONNREFUSED: "ECONNREFUSED",
    errno.ECONNRESET: "ECONNRESET",
    errno.EHOSTUNREACH: "EHOSTUNREACH",
    errno.ENETUNREACH: "ENETUNREACH",
    errno.EPIPE: "EPIPE",
}


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


def _network_error(exc: BaseException) -> str:
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
            return Attempt(None, duration_ms=elapsed_ms(), error=_network_error(exc))


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
