"""The token buckets on the Limits table (adapters/dynamo/rate_limits.py) against moto, beside the
in-memory fake with the same contract; and the cost of a decision in DynamoDB requests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.rate_limits import DynamoRateLimiter
from taskhook.model.errors import Busy
from taskhook.model.gcra import NS
from taskhook.ports import RateLimiter
from tests.support.fakes import InMemoryRateLimiter

from .conftest import Provisioned

T0 = 1_800_000_000 * NS


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * NS)


class CountingClient:
    """The boto3 client, counting the requests made through it (and able to drop ALL_OLD's item,
    as a backend without ReturnValuesOnConditionCheckFailure would, or to throttle)."""

    def __init__(self, client: Any, drop_old_item: bool = False, throttle: bool = False, latency: float = 0) -> None:
        self._client = client
        self._drop = drop_old_item
        self._throttle = throttle
        self._latency = latency  # seconds each request takes (DynamoDB's, or a loaded emulator's)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _call(self, name: str, **kwargs: Any) -> Any:
        with self._lock:
            self.calls[name] += 1
        time.sleep(self._latency)
        if self._throttle:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, name)
        try:
            return getattr(self._client, name)(**kwargs)
        except ClientError as exc:
            if self._drop:
                exc.response.pop("Item", None)
            raise

    def update_item(self, **kwargs: Any) -> Any:
        return self._call("update_item", **kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        return self._call("get_item", **kwargs)


def dynamo(aws: Provisioned, clock: Callable[[], int], **options: Any) -> tuple[DynamoRateLimiter, CountingClient]:
    client = CountingClient(aws.client("dynamodb"), **options)
    return DynamoRateLimiter(client, aws.env["LIMITS_TABLE"], clock=clock), client


@pytest.fixture(params=["fake", "dynamodb"])
def limiter_and_clock(request: pytest.FixtureRequest) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    if request.param == "fake":
        return InMemoryRateLimiter(clock), clock
    aws = request.getfixturevalue("aws")
    return dynamo(aws, clock)[0], clock


def test_a_bucket_admits_its_burst_refuses_then_refills(limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    limiter, clock = limiter_and_clock
    decisions = [limiter.admit("api#a", 2, 3) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert decisions[-1].retry_after == pytest.approx(0.5)
    assert decisions[-1].reset_after == pytest.approx(1.5)

    clock.advance(0.5)
    assert limiter.admit("api#a", 2, 3).allowed
    assert not limiter.admit("api#a", 2, 3).allowed
    clock.advance(10)  # idle: full again, and no more than full
    assert [limiter.admit("api#a", 2, 3).allowed for _ in range(4)] == [True, True, True, False]


def test_keys_are_separate_buckets(limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    limiter, _ = limiter_and_clock
    assert limiter.admit("api#a", 1, 1).allowed
    assert not limiter.admit("api#a", 1, 1).allowed
    assert limiter.admit("api#b", 1, 1).allowed


def test_a_raised_limit_applies_after_one_of_its_intervals(limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    """The old limit left the bucket 10 s in debt; the new one counts it as just empty."""
    limiter, clock = limiter_and_clock
    assert [limiter.admit("api#a", 0.1, 1).allowed for _ in range(2)] == [True, False]
    refused = limiter.admit("api#a", 100, 10)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.01)
    clock.advance(0.01)
    assert [limiter.admit("api#a", 100, 10).allowed for _ in range(2)] == [True, False]
    clock.advance(0.1)
    assert [limiter.admit("api#a", 100, 10).allowed for _ in range(11)] == [True] * 10 + [False]


def test_a_lowered_limit_keeps_what_the_bucket_had_spent(limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    limiter, clock = limiter_and_clock
    assert [limiter.admit("api#a", 10, 10).allowed for _ in range(5)] == [True] * 5  # 0.5 s spent
    assert [limiter.admit("api#a", 1, 2).allowed for _ in range(3)] == [True, False, False]
    clock.advance(1)
    assert [limiter.admit("api#a", 1, 2).allowed for _ in range(2)] == [True, False]


def test_concurrent_admits_from_threads_never_exceed_the_burst(aws: Provisioned, atomic_dynamo_writes: None) -> None:
    """Several limiters (several containers) on one key, 8 threads each: with refill negligible
    (one token an hour) exactly the burst is admitted, whatever the interleaving (moto's writes one
    at a time, as DynamoDB's: conftest.py)."""
    limiters = [dynamo(aws, time.time_ns)[0] for _ in range(4)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(lambda i: limiters[i % 4].admit("api#busy", 1 / 3600, 25), range(120)))
    assert sum(d.allowed for d in decisions) == 25
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


class TickingClock:
    """Time that moves 1 ms with every read, whichever thread reads it: 30 requests' arrivals spread
    over 30 ms. (The machine's own clock let a thread descheduled for over 100 ms on a loaded CI
    machine arrive "before" the first admit by more than the burst's slack, and be refused as it
    should be: that measured the scheduler, not the races.)"""

    def __init__(self) -> None:
        self._reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._reads += 1
            return T0 + self._reads * NS // 1000


def test_concurrent_admits_within_the_burst_are_all_admitted_however_slow_the_writes(
        aws: Provisioned, atomic_dynamo_writes: None) -> None:
    """30 requests at once from 3 containers, each write taking longer than the bucket's interval
    (rps 200: 5 ms; a write 20 ms): well within the burst, none may be refused by the races.
    moto's writes one at a time, as DynamoDB's (conftest.py): without that, on a loaded machine
    two of moto's threads passed one condition and left a `tat` no request of DynamoDB's could
    have, and a request was refused after its three attempts (6 runs in 15 under load)."""
    clock = TickingClock()
    limiters = [dynamo(aws, clock, latency=0.02)[0] for _ in range(3)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        decisions = list(pool.map(lambda i: limiters[i % 3].admit("api#b", 200, 50), range(30)))
    assert [d.allowed for d in decisions] == [True] * 30


def test_a_decision_costs_one_write_and_a_known_refusal_none(aws: Provisioned) -> None:
    clock = Clock()
    limiter, client = dynamo(aws, clock)
    for _ in range(10):
        assert limiter.admit("api#a", 10, 10).allowed
    assert client.calls == {"update_item": 10}  # first a full bucket, then adds: one write each
    for _ in range(50):
        assert not limiter.admit("api#a", 10, 10).allowed
    assert client.calls == {"update_item": 10}  # this process saw the bucket empty: no request

    clock.advance(0.1)
    other, other_client = dynamo(aws, clock)  # another container, which never saw the key
    assert other.admit("api#a", 10, 10).allowed  # guessed "full", was told the stored tat, added
    assert not other.admit("api#a", 10, 10).allowed
    assert other_client.calls == {"update_item": 2}


def test_a_backend_without_the_old_item_on_failure_reads_it_once(aws: Provisioned) -> None:
    clock = Clock()
    first, _ = dynamo(aws, clock)
    assert first.admit("api#a", 1, 2).allowed
    limiter, client = dynamo(aws, clock, drop_old_item=True)
    assert limiter.admit("api#a", 1, 2).allowed
    assert not limiter.admit("api#a", 1, 2).allowed
    assert client.calls == {"update_item": 2, "get_item": 1}


def test_the_item_holds_tat_and_the_limit_and_expires_once_the_bucket_is_full(aws: Provisioned) -> None:
    clock = Clock()
    limiter, _ = dynamo(aws, clock)
    for _ in range(3):
        limiter.admit("api#a", 2, 3)
    item = aws.client("dynamodb").get_item(TableName=aws.env["LIMITS_TABLE"], Key={"key": {"S": "api#a"}})["Item"]
    assert set(item) == {"key", "tat", "cap", "expiresAt"}
    assert int(item["tat"]["N"]) == T0 + 3 * NS // 2
    assert int(item["cap"]["N"]) == 3 * NS // 2  # burst 3 at 2 rps: 1.5 s
    assert T0 // NS + 1.5 < int(item["expiresAt"]["N"]) <= T0 // NS + 1.5 + 120


def test_throttling_is_busy(aws: Provisioned) -> None:
    limiter, _ = dynamo(aws, Clock(), throttle=True)
    with pytest.raises(Busy):
        limiter.admit("api#a", 1, 1)


def test_a_request_with_an_older_clock_never_hands_the_buckets_tokens_out_again(
        limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    """Found on a loaded LocalStack: a 500-request burst at 50 rps / burst 100 admitted 94. A request
    whose `now` was read before the bucket filled up (it waited; or its container's clock is behind)
    saw `tat` more than a bucket ahead of its `now` and wrote it back as "empty now", lowering it:
    tokens already spent came back, and the hints of other requests went wrong. Under an unchanged
    limit that request is refused and nothing is written."""
    limiter, clock = limiter_and_clock
    stale = clock.now
    clock.advance(0.5)
    assert sum(limiter.admit("api#a", 50, 100).allowed for _ in range(100)) == 100  # tat: now + 2 s
    late = clock.now
    clock.now = stale  # a request whose clock read is half a second old
    refused = limiter.admit("api#a", 50, 100)
    assert not refused.allowed
    clock.now = late
    assert not limiter.admit("api#a", 50, 100).allowed  # still empty: no token came back
    clock.advance(0.02)  # one interval later, one token
    assert [limiter.admit("api#a", 50, 100).allowed for _ in range(2)] == [True, False]


def test_a_changed_limit_still_applies_at_once(limiter_and_clock: tuple[RateLimiter, Clock]) -> None:
    limiter, clock = limiter_and_clock
    assert [limiter.admit("api#a", 0.1, 1).allowed for _ in range(2)] == [True, False]  # 10 s of debt
    clock.advance(0.01)
    assert not limiter.admit("api#a", 100, 10).allowed  # the new limit's first request empties it
    clock.advance(0.01)
    assert limiter.admit("api#a", 100, 10).allowed  # one interval of the new limit later
