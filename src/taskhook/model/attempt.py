"""What one HTTP attempt produced, and what its answer means (the pure status-code rule shared by
the executor and the notification deliverer). Making the call: adapters/http.py."""

from __future__ import annotations

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
