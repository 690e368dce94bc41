"""intake/rate_limit.py: the team's plan -> the limiter -> the headers or a 429; and the OpenAPI
document's 429 on every authenticated operation."""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.intake.openapi import _rate_limited, build_openapi
from taskhook.intake.rate_limit import RateGate, api_bucket
from taskhook.model.errors import RATE_LIMIT_EXCEEDED, RateLimited
from taskhook.model.gcra import NS
from taskhook.model.plan import PLAN_CACHE_SECONDS, PlanBook, TeamPlan
from tests.support.fakes import InMemoryPlanStore, InMemoryRateLimiter

T0 = 1_800_000_000 * NS


class Clocks:
    def __init__(self) -> None:
        self.ns = T0

    def wall(self) -> int:
        return self.ns

    def monotonic(self) -> float:
        return self.ns / NS

    def advance(self, seconds: float) -> None:
        self.ns += round(seconds * NS)


def gate(defaults: TeamPlan = TeamPlan()) -> tuple[RateGate, InMemoryPlanStore, InMemoryRateLimiter, Clocks]:
    clocks = Clocks()
    plans = InMemoryPlanStore()
    limiter = InMemoryRateLimiter(clocks.wall)
    book = PlanBook(plans.load, defaults, monotonic=clocks.monotonic)
    return RateGate(book, limiter), plans, limiter, clocks


def refusal(check: Any) -> RateLimited:
    with pytest.raises(RateLimited) as refused:
        check()
    return refused.value


def test_a_team_without_a_limit_costs_no_write_and_gets_no_headers() -> None:
    rate_gate, _, limiter, _ = gate()
    assert [rate_gate.check("acme") for _ in range(100)] == [{}] * 100
    assert limiter.calls == []


def test_a_limited_team_gets_the_headers_then_the_seeds_429() -> None:
    rate_gate, plans, _, _ = gate()
    plans.save("acme", TeamPlan(rps=2, burst=3))
    answers = [rate_gate.check("acme") for _ in range(3)]
    assert answers == [
        {"RateLimit-Limit": "3", "RateLimit-Remaining": "2", "RateLimit-Reset": "1"},
        {"RateLimit-Limit": "3", "RateLimit-Remaining": "1", "RateLimit-Reset": "1"},
        {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "2"},
    ]
    refused = refusal(lambda: rate_gate.check("acme"))
    assert (refused.status_code, refused.message) == (429, RATE_LIMIT_EXCEEDED)
    assert RATE_LIMIT_EXCEEDED == "Rate limit exceeded. Upgrade your plan for higher limits."
    assert dict(refused.headers) == {"Retry-After": "1", "RateLimit-Limit": "3", "RateLimit-Remaining": "0",
                                     "RateLimit-Reset": "2"}


def test_retry_after_is_whole_seconds_rounded_up_and_then_true() -> None:
    rate_gate, plans, _, clocks = gate()
    plans.save("acme", TeamPlan(rps=0.25, burst=1))  # one request every 4 s
    rate_gate.check("acme")
    clocks.advance(0.5)
    assert refusal(lambda: rate_gate.check("acme")).headers["Retry-After"] == "4"  # 3.5 s, rounded up
    clocks.advance(3.4)
    assert refusal(lambda: rate_gate.check("acme")).headers["Retry-After"] == "1"  # 0.1 s: at least 1
    clocks.advance(0.1)
    assert rate_gate.check("acme")["RateLimit-Remaining"] == "0"


def test_one_team_at_its_limit_leaves_another_untouched() -> None:
    rate_gate, plans, limiter, _ = gate()
    plans.save("a", TeamPlan(rps=1, burst=1))
    plans.save("b", TeamPlan(rps=1, burst=5))
    rate_gate.check("a")
    refusal(lambda: rate_gate.check("a"))
    assert [rate_gate.check("b")["RateLimit-Remaining"] for _ in range(5)] == ["4", "3", "2", "1", "0"]
    assert {key for key, _, _ in limiter.calls} == {api_bucket("a"), api_bucket("b")}


def test_a_change_of_plan_applies_within_the_plans_cache_and_rps_0_removes_the_limit() -> None:
    rate_gate, plans, limiter, clocks = gate()
    plans.save("acme", TeamPlan(rps=1, burst=1))
    rate_gate.check("acme")
    plans.save("acme", TeamPlan(rps=0))
    refusal(lambda: rate_gate.check("acme"))  # still cached
    clocks.advance(PLAN_CACHE_SECONDS)
    calls = len(limiter.calls)
    assert [rate_gate.check("acme") for _ in range(10)] == [{}] * 10
    assert len(limiter.calls) == calls  # no limit: no write


def test_the_deployments_default_limits_a_team_without_a_row_and_a_row_overrides_it() -> None:
    rate_gate, plans, _, _ = gate(defaults=TeamPlan(rps=1, burst=2))
    assert rate_gate.check("new-team")["RateLimit-Limit"] == "2"
    rate_gate.check("new-team")
    refusal(lambda: rate_gate.check("new-team"))
    plans.save("free", TeamPlan(rps=0))
    assert rate_gate.check("free") == {}


def test_a_throttled_limiter_refuses_for_a_second_fail_closed() -> None:
    rate_gate, plans, limiter, _ = gate()
    plans.save("acme", TeamPlan(rps=100, burst=100))
    limiter.busy = True
    refused = refusal(lambda: rate_gate.check("acme"))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Limit"] == "100" and refused.headers["RateLimit-Remaining"] == "0"


def test_every_authenticated_operation_documents_the_429_with_its_headers() -> None:
    document = build_openapi()
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    authenticated = [(p, m, op) for p, m, op in operations if op.get("security") != []]
    assert len(authenticated) >= 11
    for path, method, operation in authenticated:
        answer = operation["responses"].get("429")
        assert answer is not None, (path, method)
        assert RATE_LIMIT_EXCEEDED in answer["description"]
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(answer["headers"])
        ok = next(r for s, r in operation["responses"].items() if s.startswith("2"))
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(ok["headers"]), (path, method)
    for path, method, operation in operations:
        if operation.get("security") == []:
            assert "429" not in operation["responses"], (path, method)


def test_a_route_added_later_gets_the_429_without_listing_it() -> None:
    paths = {"/v1/new": {"get": {"responses": {"200": {"description": "ok"}}}},
             "/open": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}}}
    _rate_limited(paths)
    assert "429" in paths["/v1/new"]["get"]["responses"]
    assert "429" not in paths["/open"]["get"]["responses"]
