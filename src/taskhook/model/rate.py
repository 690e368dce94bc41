"""Rate limiting's answer (the arithmetic that produces it lives beside the limiter)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int  # the bucket's size (the burst)
    remaining: int  # requests that would be admitted right now, after this one
    reset_after: float  # seconds until the bucket is full again
    retry_after: float = 0.0  # when refused: seconds until one request would be admitted
