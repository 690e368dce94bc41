"""The token bucket's arithmetic, as GCRA (the generic cell rate algorithm): one number per bucket.

A bucket of `burst` tokens refilled at `rps` tokens a second is the same thing as one "theoretical
arrival time" (`tat`): the moment the bucket would be full again if nothing more came. Each admitted
request moves `tat` one `interval` (1 / rps) later, starting from now when the bucket was full
(`tat` in the past). A request is admitted when, after it, `tat` is at most `capacity`
(burst x interval) ahead of now. So the state is one number, a request is one conditional write of
it, and nothing ever runs on a timer to refill anything.

Times are whole nanoseconds since the epoch (int): DynamoDB adds and compares them exactly, where
floats of today's epoch seconds are only exact to about 0.24 us and drift when added up.

Pure: no clock and no I/O (the caller passes `now`), so the limiter's adapter and the in-memory fake
decide with the same code. A clock that goes backwards (another container's clock ahead of this one)
only makes `tat` look further ahead: refusals, never a negative wait, and never more than a whole
bucket of debt (see `decide`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from taskhook.model.rate import RateDecision

NS = 1_000_000_000
LONGEST_INTERVAL = 366 * 86_400 * NS  # a rate below one request a year counts as one a year


@dataclass(frozen=True)
class Bucket:
    rps: float  # tokens a second (> 0)
    burst: int  # tokens at most (>= 1)

    def __post_init__(self) -> None:
        if not (self.rps > 0 and math.isfinite(self.rps)) or self.burst < 1:
            raise ValueError("a bucket needs rps > 0 and burst >= 1")

    @property
    def interval(self) -> int:
        """Nanoseconds one token takes to come back."""
        return max(1, min(LONGEST_INTERVAL, round(min(NS / self.rps, LONGEST_INTERVAL))))

    @property
    def capacity(self) -> int:
        """Nanoseconds a full bucket's worth of tokens takes to come back."""
        return self.burst * self.interval

    def admit_limit(self, now: int) -> int:
        """The latest stored `tat` that still admits one more request at `now`."""
        return now + self.capacity - self.interval


def decide(bucket: Bucket, tat: int | None, now: int, same_limit: bool = False) -> tuple[RateDecision, int | None]:
    """One request at `now` against a bucket whose stored `tat` is `tat` (None: never used, i.e.
    full): the decision, and the `tat` to store (None: nothing changes).

    A `tat` more than a whole bucket ahead counts as an empty bucket and is refused. When it was
    written under another limit (`same_limit` False: the team's limit was just changed) it is also
    stored back as just empty, so that a new limit applies at once. Under the same limit it is left
    alone: it only means that this request's `now` is older than the requests that filled the
    bucket (it waited, or its container's clock is behind), and writing it back would hand their
    tokens out again."""
    base = now if tat is None else max(tat, now)
    if overdrawn(bucket, base, now):
        if same_limit:
            return refused(bucket, base, now), None
        return refused(bucket, now + bucket.capacity, now), now + bucket.capacity
    if base > bucket.admit_limit(now):
        return refused(bucket, base, now), None
    new_tat = base + bucket.interval
    return admitted(bucket, new_tat, now), new_tat


def overdrawn(bucket: Bucket, tat: int, now: int) -> bool:
    """More than the bucket's whole capacity ahead: only after a change of limit or a clock skew."""
    return tat > now + bucket.capacity


def admitted(bucket: Bucket, new_tat: int, now: int) -> RateDecision:
    """The decision for a request admitted at `now` that left `new_tat` stored."""
    ahead = max(0, new_tat - now)
    remaining = (bucket.capacity - ahead) // bucket.interval
    return RateDecision(allowed=True, limit=bucket.burst, remaining=max(0, min(bucket.burst - 1, remaining)),
                        reset_after=ahead / NS)


def refused(bucket: Bucket, tat: int, now: int) -> RateDecision:
    """The decision for a request refused at `now` with `tat` stored."""
    return RateDecision(allowed=False, limit=bucket.burst, remaining=0, reset_after=max(0, tat - now) / NS,
                        retry_after=max(0, tat - bucket.admit_limit(now)) / NS)


def whole_seconds(seconds: float, at_least: int = 0) -> int:
    """`seconds` rounded up to a whole number (HTTP's delta-seconds; never a moment early)."""
    return max(at_least, math.ceil(seconds - 1e-9))
