"""When a request is tried again, and after how long.

429 and 5xx answers and dropped connections are retried with exponential backoff (full jitter on
the upper half), never sooner than the answer's `Retry-After` (seconds or an HTTP date). A request
that may not be repeated blindly (a POST without an Idempotency-Key: starting a function task,
cancelling, making a key) is retried only when the API cannot have acted on it: a 429, or a
connection that was never made.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds, or an HTTP date from now; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` in all (the first included); the n-th retry waits about `base * 2**(n-1)` seconds,
    at most `cap`, or the answer's Retry-After when that is longer (but at most `max_retry_after`:
    a longer hint is not waited out, the error is raised with it)."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 60.0

    def backoff(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        return ceiling * (0.5 + random.random() / 2)

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds before retry number `retry` (1 for the first); None: do not retry."""
        if retry >= self.attempts:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return max(retry_after, self.backoff(retry) if retry_after == 0 else retry_after)
        return self.backoff(retry)


NO_RETRIES = RetryPolicy(attempts=1)


def retryable_status(status: int, repeatable: bool, message: str = "") -> bool:
    if status == 429:
        return True
    if repeatable and status == 409 and "still in progress" in message:  # the same Idempotency-Key, in flight
        return True
    return repeatable and status >= 500


def retryable_failure(error: httpx.TransportError, repeatable: bool) -> bool:
    """A connection that was never made (nothing was sent) is always tried again; one that broke
    after the request went out, only for a request that may be repeated."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return repeatable
