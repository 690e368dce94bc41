"""The retry policy: a pure value object. `delay(attempt)` is the wait before retry `attempt`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from taskhook.model.limits import SQS_MAX_DELAY

MAX_DELAY_SECONDS = SQS_MAX_DELAY  # also a sane ceiling for a customer's outage


class Backoff(StrEnum):
    """How the wait grows between retries (seed 002's `retryBackoff`)."""

    LINEAR = "linear"  # base x n
    EXPONENTIAL = "exponential"  # base x 2^(n-1)


BACKOFFS = tuple(b.value for b in Backoff)


@dataclass(frozen=True)
class RetryPolicy:
    backoff: Backoff = Backoff.EXPONENTIAL
    base_seconds: float = 1.0
    max_delay_seconds: float = MAX_DELAY_SECONDS
    jitter: float = 0.2  # each delay is drawn uniformly within +/- 20 % of its nominal value

    def nominal(self, attempt: int) -> float:
        """Retry 1 waits base, retry 2 waits 2*base (linear) or 2*base (exponential: base*2^(n-1))."""
        if attempt < 1:
            raise ValueError("attempt starts at 1")
        if self.backoff == Backoff.LINEAR:
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
