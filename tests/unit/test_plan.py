"""model/plan.py: how a team's stored plan and the deployment's defaults make the plan in force,
how the operator's changes edit it, and the half-second cache that makes a change apply within a
second without a read per request."""

from __future__ import annotations

import threading

import pytest

from taskhook.model.errors import Busy, ValidationFailed
from taskhook.model.plan import (
    PLAN_CACHE_SECONDS,
    DestinationLimit,
    PlanBook,
    TeamPlan,
    normalize_host,
    resolved,
    with_destination,
    with_limits,
)

DEFAULTS = TeamPlan(rps=10, burst=20, concurrency=5)


def test_no_row_and_no_defaults_means_no_limit_at_all() -> None:
    assert resolved(None, TeamPlan()) == TeamPlan()


def test_a_team_without_a_row_gets_the_defaults() -> None:
    assert resolved(None, DEFAULTS) == DEFAULTS


def test_a_value_the_team_sets_overrides_the_default_and_0_removes_the_limit() -> None:
    assert resolved(TeamPlan(rps=2), DEFAULTS) == TeamPlan(rps=2, burst=20, concurrency=5)
    assert resolved(TeamPlan(rps=0), DEFAULTS) == TeamPlan(rps=None, burst=None, concurrency=5)
    assert resolved(TeamPlan(concurrency=0), DEFAULTS).concurrency is None


def test_the_burst_defaults_to_one_seconds_worth() -> None:
    assert TeamPlan(rps=7).effective_burst == 7
    assert TeamPlan(rps=0.2).effective_burst == 1
    assert TeamPlan(rps=2.5, burst=9).effective_burst == 9
    assert TeamPlan().effective_burst is None


def test_set_limits_changes_only_what_is_given_and_rps_0_drops_the_burst() -> None:
    plan = with_limits(TeamPlan(rps=5, burst=9, concurrency=3), None, None, 4)
    assert plan == TeamPlan(rps=5, burst=9, concurrency=4)
    assert with_limits(plan, 0, None, None) == TeamPlan(rps=0, burst=None, concurrency=4)


@pytest.mark.parametrize(("rps", "burst", "concurrency", "message"), [
    (-1, None, None, "rps must be a number between 0 and 100000"),
    (None, -2, None, "burst must be a whole number between 0 and 1000000"),
    (None, None, 10_001, "concurrency must be a whole number between 0 and 10000"),
])
def test_limits_out_of_range_are_refused(rps: float | None, burst: int | None, concurrency: int | None,
                                         message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        with_limits(TeamPlan(), rps, burst, concurrency)


def test_destination_limits_are_set_by_normalized_host_and_removed_by_zeros() -> None:
    plan = with_destination(TeamPlan(), "API.Replicate.com.", DestinationLimit(concurrency=2))
    assert plan.destination("api.replicate.com") == DestinationLimit(concurrency=2)
    assert plan.destination("API.REPLICATE.COM.") == DestinationLimit(concurrency=2)
    assert with_destination(plan, "api.replicate.com", DestinationLimit(concurrency=0, rps=0)).destinations == {}


@pytest.mark.parametrize("host", ["https://api.replicate.com", "api.replicate.com:443", "a/b", "", "-x.example"])
def test_a_destination_must_be_a_bare_host_name(host: str) -> None:
    with pytest.raises(ValidationFailed, match="host must be a host name"):
        normalize_host(host)


def test_the_book_reads_a_team_once_per_cache_period() -> None:
    now = [100.0]
    loads: list[str] = []
    stored = {"a": TeamPlan(rps=1)}

    def load(team: str) -> TeamPlan | None:
        loads.append(team)
        return stored.get(team)

    book = PlanBook(load, DEFAULTS, monotonic=lambda: now[0])
    assert book.plan_of("a").rps == 1
    assert book.plan_of("a").rps == 1
    assert book.plan_of("b") == DEFAULTS
    assert loads == ["a", "b"]
    stored["a"] = TeamPlan(rps=0)
    now[0] += PLAN_CACHE_SECONDS  # a change applies once the cached copy is this old
    assert book.plan_of("a").rps is None
    assert loads == ["a", "b", "a"]


def test_an_expired_plan_is_read_again_by_one_thread_while_the_others_keep_the_last_one() -> None:
    """Many requests (the API's threads, an executor batch's records) find the cached plan expired at
    once: one of them reads it again; until that read is back, the others use the plan it replaces
    (a burst read the Teams table a fifth as often as it created tasks, one read per thread)."""
    now = [0.0]
    reading, release = threading.Event(), threading.Event()
    loads: list[int] = []

    def load(team: str) -> TeamPlan | None:
        loads.append(len(loads))
        if len(loads) > 1:  # the read after expiry: slow, and the plan changed meanwhile
            reading.set()
            release.wait(10)
            return TeamPlan(rps=2)
        return TeamPlan(rps=1)

    book = PlanBook(load, DEFAULTS, monotonic=lambda: now[0])
    assert book.plan_of("a").rps == 1
    now[0] += PLAN_CACHE_SECONDS
    refresher = threading.Thread(target=book.plan_of, args=("a",))
    refresher.start()
    assert reading.wait(10)
    others = [book.plan_of("a").rps for _ in range(8)]  # while the read is out
    release.set()
    refresher.join(10)
    assert others == [1] * 8 and len(loads) == 2
    assert book.plan_of("a").rps == 2 and len(loads) == 2  # the new plan, cached


def test_a_failed_read_lets_the_next_request_read_again() -> None:
    now = [0.0]
    failing = [False]
    loads: list[str] = []

    def load(team: str) -> TeamPlan | None:
        loads.append(team)
        if failing[0]:
            raise RuntimeError("the Teams table is unreachable")
        return TeamPlan(rps=5)

    book = PlanBook(load, DEFAULTS, monotonic=lambda: now[0])
    assert book.plan_of("a").rps == 5
    now[0] += PLAN_CACHE_SECONDS
    failing[0] = True
    with pytest.raises(RuntimeError):
        book.plan_of("a")
    failing[0] = False
    assert book.plan_of("a").rps == 5 and loads == ["a", "a", "a"]


def test_a_throttled_read_keeps_the_plan_last_read_and_is_busy_only_without_one() -> None:
    now = [0.0]
    throttled = [False]

    def load(team: str) -> TeamPlan | None:
        if throttled[0]:
            raise Busy()
        return TeamPlan(rps=3)

    book = PlanBook(load, DEFAULTS, monotonic=lambda: now[0])
    assert book.plan_of("a").rps == 3
    throttled[0] = True
    now[0] += 10 * PLAN_CACHE_SECONDS
    assert book.plan_of("a").rps == 3  # not a 503 for every request of every team
    with pytest.raises(Busy):
        book.plan_of("b")
