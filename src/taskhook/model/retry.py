"""The retry policy: a pure value object. `delay(attempt)` is the wait before retry `attempt`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds; also a sane ceiling for a customer's outage


@dataclass(frozen=True)
class RetryPolicy:
    backoff: str = "exponential"  # "linear" | "exponential"
    base_seconds: float = 1.0
    max_delay_seconds: float = MAX_DELAY_SECONDS
    jitter: float = 0.2  # each delay is drawn uniformly within +/- 20 % of its nominal value

    def nominal(self, attempt: int) -> float:
        """Retry 1 waits base, retry 2 waits 2*base (linear) or 2*base (exponential: base*2^(n-1))."""
        if attempt < 1:
            raise ValueError("attempt starts at 1")
        if self.backoff == "linear":
            raw = self.base_seconds * attempt
        else:
            raw = self.base_seconds * 2 ** min(attempt - 1, 30)
        return min(raw, self.max_delay_seconds)

    def delay(
        self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry `attempt`: the backoff with jitter, never less than the
        target's Retry-After, never more than the ceiling."""
        nominal = self.nominal(attempt)
        jittered = nominal * (1 - self.jitter + 2 * self.jitter * rand())
        if retry_after is not None:
            jittered = max(jittered, retry_after)
        return max(0.0, min(jittered, self.max_delay_seconds))
