"""RetryPolicy: the pure value object behind every retry's wait (DESIGN.md §3 Executor, §6)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from taskhook.model.retry import MAX_DELAY_SECONDS, RetryPolicy

EXPONENTIAL = {1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32}
LINEAR = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6}
BOTH = [("exponential", a, n) for a, n in EXPONENTIAL.items()] + [("linear", a, n) for a, n in LINEAR.items()]
BOTH_IDS = [f"{b}-{a}" for b, a, _ in BOTH]


def fixed(value: float):
    return lambda: value


def test_defaults_are_exponential_from_one_second_capped_at_sqs_longest_delay_with_20_percent_jitter() -> None:
    policy = RetryPolicy()
    assert (policy.backoff, policy.base_seconds, policy.jitter) == ("exponential", 1.0, 0.2)
    assert policy.max_delay_seconds == MAX_DELAY_SECONDS == 900


@pytest.mark.parametrize(("attempt", "expected"), EXPONENTIAL.items())
def test_exponential_nominal_doubles_each_attempt(attempt: int, expected: float) -> None:
    assert RetryPolicy(backoff="exponential").nominal(attempt) == expected


@pytest.mark.parametrize(("attempt", "expected"), LINEAR.items())
def test_linear_nominal_grows_by_base_each_attempt(attempt: int, expected: float) -> None:
    assert RetryPolicy(backoff="linear").nominal(attempt) == expected


@pytest.mark.parametrize(("backoff", "attempt", "unit"), BOTH, ids=BOTH_IDS)
def test_nominal_scales_with_base_seconds(backoff: str, attempt: int, unit: float) -> None:
    assert RetryPolicy(backoff=backoff, base_seconds=2.5).nominal(attempt) == pytest.approx(2.5 * unit)


@pytest.mark.parametrize(
    ("policy", "attempt", "expected"),
    [
        (RetryPolicy(), 10, 512),
        (RetryPolicy(), 11, 900),  # 1024 capped
        (RetryPolicy(), 1000, 900),  # no overflow for absurd attempts
        (RetryPolicy(backoff="linear", base_seconds=100), 9, 900),
        (RetryPolicy(backoff="linear", base_seconds=100), 10, 900),
        (RetryPolicy(max_delay_seconds=10), 5, 10),
        (RetryPolicy(backoff="linear", max_delay_seconds=3), 6, 3),
    ],
)
def test_nominal_never_exceeds_the_cap(policy: RetryPolicy, attempt: int, expected: float) -> None:
    assert policy.nominal(attempt) == expected


@pytest.mark.parametrize(("backoff", "attempt", "nominal"), BOTH, ids=BOTH_IDS)
def test_jitter_bounds_are_plus_minus_20_percent(backoff: str, attempt: int, nominal: float) -> None:
    policy = RetryPolicy(backoff=backoff)
    assert policy.delay(attempt, rand=fixed(0.0)) == pytest.approx(0.8 * nominal)
    assert policy.delay(attempt, rand=fixed(1.0)) == pytest.approx(1.2 * nominal)
    assert policy.delay(attempt, rand=fixed(0.5)) == pytest.approx(nominal)


def test_random_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy()
    rng = random.Random(20240115)
    for attempt in range(1, 8):
        nominal = policy.nominal(attempt)
        for _ in range(200):
            assert 0.8 * nominal - 1e-9 <= policy.delay(attempt, rand=rng.random) <= 1.2 * nominal + 1e-9


def test_jitter_above_the_cap_is_clipped_to_the_cap() -> None:
    policy = RetryPolicy()
    assert policy.delay(11, rand=fixed(1.0)) == 900
    assert policy.delay(11, rand=fixed(0.0)) == pytest.approx(720)


def test_zero_jitter_gives_the_nominal_value() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert [policy.delay(a, rand=fixed(0.99)) for a in range(1, 7)] == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, 7.0, 7.0),  # Retry-After longer than the backoff wins
        (4, 2.0, 8.0),  # shorter than the backoff: the backoff stands
        (4, 8.0, 8.0),
        (1, 0.0, 1.0),
        (1, 5000.0, 900.0),  # never beyond the cap
        (11, 901.0, 900.0),
    ],
)
def test_retry_after_raises_the_delay_but_never_beyond_the_cap(
    attempt: int, retry_after: float, expected: float
) -> None:
    assert RetryPolicy().delay(attempt, retry_after, rand=fixed(0.5)) == pytest.approx(expected)


def test_retry_after_respects_a_custom_cap() -> None:
    assert RetryPolicy(max_delay_seconds=60).delay(1, retry_after=3600, rand=fixed(0.5)) == 60


def test_retry_after_beats_the_low_end_of_the_jitter() -> None:
    # nominal 4, jitter low end 3.2; Retry-After 3.5 lifts it.
    assert RetryPolicy().delay(3, retry_after=3.5, rand=fixed(0.0)) == pytest.approx(3.5)


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_attempt_below_one_raises(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt starts at 1"):
        RetryPolicy().nominal(attempt)
    with pytest.raises(ValueError, match="attempt starts at 1"):
        RetryPolicy(backoff="linear").delay(attempt, retry_after=5, rand=fixed(0.5))


def test_policy_is_a_frozen_value_object() -> None:
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.base_seconds = 2  # type: ignore[misc]
    assert RetryPolicy(backoff="linear") == RetryPolicy(backoff="linear")
    assert hash(RetryPolicy()) == hash(RetryPolicy())
