"""The token bucket's arithmetic (model/gcra.py): refill, burst, Retry-After, remaining, reset,
fractional rates and a clock that goes backwards."""

from __future__ import annotations

import pytest

from taskhook.model.gcra import NS, Bucket, decide, whole_seconds
from taskhook.model.rate import RateDecision

T0 = 1_800_000_000 * NS  # epoch nanoseconds, today's magnitude
MS = NS // 1000


def at(seconds: float) -> int:
    return T0 + round(seconds * NS)


def run(bucket: Bucket, times: list[int], tat: int | None = None) -> tuple[list[RateDecision], int | None]:
    decisions = []
    for now in times:
        decision, new_tat = decide(bucket, tat, now)
        decisions.append(decision)
        if new_tat is not None:
            tat = new_tat
    return decisions, tat


def test_a_full_bucket_admits_exactly_its_burst_at_once_then_refuses() -> None:
    decisions, _ = run(Bucket(rps=10, burst=5), [T0] * 8)
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
    assert all(d.limit == 5 for d in decisions)


def test_a_refusal_says_when_the_next_token_comes_and_when_the_bucket_is_full() -> None:
    decisions, _ = run(Bucket(rps=10, burst=5), [T0] * 6)
    refused = decisions[-1]
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.1, abs=1e-6)  # one interval
    assert refused.reset_after == pytest.approx(0.5, abs=1e-6)  # five intervals to refill five tokens
    assert whole_seconds(refused.retry_after, at_least=1) == 1


def test_tokens_come_back_at_the_rate() -> None:
    bucket = Bucket(rps=2, burst=2)
    _, tat = run(bucket, [T0, T0])  # empty now
    assert not decide(bucket, tat, at(0.49))[0].allowed
    decision, tat = decide(bucket, tat, at(0.5))  # one token back after 1 / rps
    assert decision.allowed and decision.remaining == 0
    assert not decide(bucket, tat, at(0.5))[0].allowed


def test_an_idle_bucket_refills_to_its_burst_and_no_further() -> None:
    bucket = Bucket(rps=10, burst=3)
    _, tat = run(bucket, [T0] * 3)
    later = at(3600)  # an hour idle: still only the burst at once
    decisions, _ = run(bucket, [later] * 5, tat)
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[0].remaining == 2 and decisions[0].reset_after == pytest.approx(0.1, abs=1e-6)


def test_a_steady_rate_at_the_limit_is_admitted_forever() -> None:
    bucket = Bucket(rps=5, burst=1)
    decisions, _ = run(bucket, [at(i * 0.2) for i in range(1000)])
    assert all(d.allowed for d in decisions)
    assert not decide(bucket, run(bucket, [T0, at(0.2)])[1], at(0.3))[0].allowed


def test_a_fractional_rate_waits_the_whole_interval_and_retry_after_rounds_up() -> None:
    bucket = Bucket(rps=0.4, burst=1)  # one request every 2.5 s
    decision, tat = decide(bucket, None, T0)
    assert decision.allowed and decision.remaining == 0 and decision.reset_after == pytest.approx(2.5, abs=1e-6)
    refused, _ = decide(bucket, tat, at(1))
    assert not refused.allowed and refused.retry_after == pytest.approx(1.5, abs=1e-6)
    assert whole_seconds(refused.retry_after, at_least=1) == 2  # never a moment early
    assert whole_seconds(refused.reset_after) == 2
    assert not decide(bucket, tat, at(2.49))[0].allowed
    assert decide(bucket, tat, at(2.5))[0].allowed


def test_over_any_window_admissions_never_exceed_burst_plus_rate_times_window() -> None:
    bucket = Bucket(rps=3.3, burst=4)
    times = [at(i * 0.01) for i in range(1000)]  # 100 requests a second for 10 s
    decisions, _ = run(bucket, times)
    admitted = [t for t, d in zip(times, decisions, strict=True) if d.allowed]
    for start in admitted:
        window = [t for t in admitted if start <= t < start + 2 * NS]
        assert len(window) <= 4 + 3.3 * 2.0
    assert len(admitted) == pytest.approx(4 + 3.3 * 10, abs=1)


def test_retry_after_is_exact_a_request_then_is_admitted() -> None:
    bucket = Bucket(rps=7, burst=3)
    _, tat = run(bucket, [T0] * 3)
    refused, _ = decide(bucket, tat, at(0.05))
    assert not refused.allowed
    assert decide(bucket, tat, at(0.05 + refused.retry_after))[0].allowed


def test_a_clock_that_goes_backwards_never_admits_more_nor_answers_a_negative_wait() -> None:
    bucket = Bucket(rps=10, burst=5)
    _, tat = run(bucket, [at(5.0)] * 5)  # another container, 5 s ahead, emptied the bucket
    assert tat is not None
    decisions, _ = run(bucket, [T0, T0, at(-1.0)], tat)  # this one's clock is behind
    assert not any(d.allowed for d in decisions)
    for decision in decisions:
        assert decision.retry_after > 0 and decision.reset_after > 0 and decision.remaining == 0
    # And only for the skew: once this clock reaches the other's, the usual wait applies.
    assert decide(bucket, tat, at(5.1))[0].allowed


def test_remaining_and_reset_are_never_negative_nor_beyond_the_burst() -> None:
    bucket = Bucket(rps=1000, burst=2)
    for tat in (None, at(-10), T0, at(0.001), at(0.002), at(100)):
        decision, _ = decide(bucket, tat, T0)
        assert 0 <= decision.remaining <= 1
        assert decision.reset_after >= 0 and decision.retry_after >= 0


@pytest.mark.parametrize(("rps", "burst"), [(0, 1), (-1, 1), (1, 0), (float("inf"), 1), (float("nan"), 1)])
def test_a_bucket_without_a_rate_or_a_token_is_refused(rps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Bucket(rps, burst)


def test_a_vanishingly_small_rate_is_one_request_a_year_not_an_overflow() -> None:
    bucket = Bucket(rps=1e-300, burst=1)
    decision, tat = decide(bucket, None, T0)
    assert decision.allowed and tat is not None
    refused, _ = decide(bucket, tat, T0)
    assert not refused.allowed and 365 * 86_400 < refused.retry_after <= 366 * 86_400
