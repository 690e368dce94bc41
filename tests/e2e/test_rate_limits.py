"""Issue 13, items 4 and 6, end to end: per-team API rate limits through the local stack.

Team A's burst gets the seed's 429 with Retry-After and RateLimit-* while team B's requests in the
same second all pass; after Retry-After team A passes again; `bin/taskhook teams set-limits`
applies within a second and `--rps 0` removes the limit; the deployment's default
(TASKHOOK_DEFAULT_RPS, template.yaml's RateLimitRps) limits a team that has no plan of its own; and
500 concurrent creates from one team answer only 201s and 429s."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from bench.stack import LocalStack
from tests.e2e.conftest import FAR_FUTURE, HTTP_TIMEOUT, Client, Stack
from tests.support.targets import TargetServer

SEED_429 = {"error": "Rate limit exceeded. Upgrade your plan for higher limits."}
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
PLAN_APPLIES = 1.0  # seconds: a change of plan applies within a second (the API's plan cache: 0.5 s)


def set_limits(stack: Stack, team: str, rps: float, burst: int | None = None) -> dict[str, Any]:
    args = ["teams", "set-limits", "--team", team, "--rps", str(rps)]
    if burst is not None:
        args += ["--burst", str(burst)]
    return dict(json.loads(stack.cli(*args).stdout))


def parked(target: TargetServer) -> dict[str, Any]:
    """A task that nothing runs during the session (a create costs the stack no execution)."""
    return {"targetUrl": target.base + "/rate", "delayUntil": FAR_FUTURE}


def create(url: str, key: str, body: dict[str, Any], timeout: float = HTTP_TIMEOUT) -> requests.Response:
    """One create on its own connection (a requests.Session is not shared between threads)."""
    return requests.post(url + "/v1/tasks", json=body, headers={"Authorization": f"Bearer {key}"},
                         timeout=timeout)


def assert_seed_429(response: requests.Response, burst: int) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == SEED_429
    assert response.headers["Content-Type"].startswith("application/json")
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert response.headers["RateLimit-Limit"] == str(burst)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) >= retry_after
    return retry_after


def test_a_burst_of_team_a_gets_429s_while_team_b_passes_and_a_passes_after_retry_after(
        stack: Stack, target: TargetServer) -> None:
    a, b = stack.new_team(), stack.new_team()
    shown = set_limits(stack, a.team, rps=1, burst=5)
    assert shown["inForce"]["rps"] == 1 and shown["inForce"]["burst"] == 5
    set_limits(stack, b.team, rps=100, burst=50)
    assert a.key and b.key
    jobs = [(a.key, "a")] * 20 + [(b.key, "b")] * 10

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(lambda job: (job[1], create(stack.url, job[0], parked(target))), jobs))
    elapsed = time.monotonic() - started

    of_a = [r for who, r in answers if who == "a"]
    of_b = [r for who, r in answers if who == "b"]
    assert Counter(r.status_code for r in of_b) == {201: 10}, [r.text for r in of_b]
    assert all(r.headers["RateLimit-Limit"] == "50" for r in of_b)
    statuses = Counter(r.status_code for r in of_a)
    assert set(statuses) == {201, 429}, statuses
    assert 5 <= statuses[201] <= 5 + int(elapsed) + 1, (statuses, elapsed)  # the burst, plus 1 a second
    for response in of_a:
        if response.status_code == 201:
            assert response.headers["RateLimit-Limit"] == "5"
            assert 0 <= int(response.headers["RateLimit-Remaining"]) <= 4
    retry_after = max(assert_seed_429(r, burst=5) for r in of_a if r.status_code == 429)

    time.sleep(retry_after)
    again = a.create(parked(target))
    assert again.status_code == 201, again.text
    assert again.headers["RateLimit-Limit"] == "5"

    # Nothing stored for a refusal. A's bucket is empty again: lift its limit to count its tasks
    # (a list right after the burst would itself be refused).
    set_limits(stack, a.team, rps=0)
    time.sleep(PLAN_APPLIES)
    assert a.total() == statuses[201] + 1 and b.total() == 10


def test_set_limits_applies_within_a_second_and_rps_0_removes_the_limit(stack: Stack, target: TargetServer) -> None:
    team = stack.new_team()
    set_limits(stack, team.team, rps=0.01, burst=1)  # one request, then one every 100 s
    assert team.create(parked(target)).status_code == 201
    assert_seed_429(team.create(parked(target)), burst=1)

    shown = set_limits(stack, team.team, rps=0)
    assert shown["inForce"]["rps"] is None
    time.sleep(PLAN_APPLIES)
    for _ in range(5):
        free = team.create(parked(target))
        assert free.status_code == 201, free.text
        assert not any(name in free.headers for name in RATE_HEADERS)

    set_limits(stack, team.team, rps=0.01, burst=3)
    time.sleep(PLAN_APPLIES)
    statuses = [team.create(parked(target)).status_code for _ in range(4)]
    assert statuses[-1] == 429 and set(statuses) == {201, 429}, statuses

    shown = json.loads(stack.cli("teams", "show", "--team", team.team).stdout)
    assert shown["plan"]["rps"] == 0.01 and shown["inForce"]["burst"] == 3


def test_500_concurrent_creates_of_one_team_answer_only_201_and_429(stack: Stack, target: TargetServer) -> None:
    team = stack.new_team()
    set_limits(stack, team.team, rps=5, burst=100)  # slow enough that 500 outrun it at any local speed
    assert team.key

    def one(_: int) -> int | str:
        try:
            # 500 threads on a small machine: an answer may take a while, but it must come.
            return create(stack.url, str(team.key), parked(target), timeout=120).status_code
        except requests.RequestException as exc:  # a connection the local server refused or reset
            return type(exc).__name__

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=500) as pool:
        statuses = Counter(pool.map(one, range(500)))
    elapsed = time.monotonic() - started

    assert set(statuses) <= {201, 429}, statuses
    assert 100 <= statuses[201] <= 100 + 5 * elapsed + 1, (statuses, elapsed)
    assert statuses[429] >= 1
    # The burst emptied the team's bucket: the count's own request waits for the token its
    # Retry-After names (CI once counted right after the last admit and got the 429 itself).
    assert team.total() == statuses[201]


@pytest.fixture(scope="module")
def default_limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack deployed with the default plan's parameters set (RateLimitRps=0.05, RateLimitBurst=2:
    two requests, then one every 20 s, so that no token comes back during the test however slow the
    emulator)."""
    stack = LocalStack(tmp_path_factory.mktemp("default-rps"), TASKHOOK_DEFAULT_RPS="0.05",
                       TASKHOOK_DEFAULT_BURST="2")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_the_default_parameter_limits_a_team_without_a_plan(default_limited_stack: LocalStack,
                                                              target: TargetServer) -> None:
    stack = default_limited_stack
    team = Client(stack.url, stack.create_key("no-plan"))
    statuses = [team.create(parked(target)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [201, 201, 429], [r.text for r in statuses]
    assert statuses[0].headers["RateLimit-Limit"] == "2"
    assert_seed_429(statuses[2], burst=2)
