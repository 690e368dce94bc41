"""Fairness between teams and per-destination limits through the local stack (issue 13.5).

Team A, with a share of 2 set by the operator command, bursts 500 tasks at a slow loopback target;
team B then creates a few: B's tasks finish while most of A's backlog still waits, and A never has
more than 2 calls in flight. A's tasks over its share are put back (new messages), never sent to
the dead-letter queue: once its share is lifted every one of them completes, exactly once, without
a retry. A destination limit of 2 calls in flight to one host is
never exceeded at the target, and is reached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.concurrency import CountingTarget

from .conftest import ON_LOCALSTACK, Client, Stack

# The burst on the embedded emulator; on LocalStack (DynamoDB Local's conditional writes
# are about ten times slower) a smaller one, so that its load does not starve the other worker's
# stack, whose tests share the one LocalStack (the crash-recovery test's runner restart).
BURST = 150 if ON_LOCALSTACK else 500
SHARE = 2
SLOW_SECONDS = 0.2
B_TASKS = 3


@pytest.fixture(scope="module")
def counting() -> Iterator[CountingTarget]:
    with CountingTarget(SLOW_SECONDS) as server:
        yield server


def _create_many(client: Client, urls: list[str], threads: int = 8) -> list[str]:
    def create(url: str) -> str:
        return str(client.create_ok({"targetUrl": url, "priority": 5, "maxRetries": 3, "timeout": 10,
                                     "maxWaitTime": 600})["id"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(create, urls))


def _completed(client: Client) -> int:
    response = client.list(status="completed", limit=1)
    assert response.status_code == 200, response.text
    return int(response.json()["pagination"]["total"])


def _wait_all_completed(client: Client, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _completed(client) < count:
        assert time.monotonic() < deadline, f"{_completed(client)}/{count} completed after {timeout:.0f}s"
        time.sleep(0.5)


def test_team_b_finishes_during_team_a_burst_and_a_completes_exactly_once(
        stack: Stack, counting: CountingTarget) -> None:
    team_a, team_b = stack.new_team(), stack.new_team()
    stack.cli("teams", "set-limits", "--team", team_a.team, "--concurrency", str(SHARE))

    a_ids = _create_many(team_a, [counting.url(f"/a/{i}") for i in range(BURST)])
    b_ids = _create_many(team_b, [counting.url(f"/fast/b{i}") for i in range(B_TASKS)], threads=B_TASKS)
    for task_id in b_ids:
        team_b.wait_until(task_id, lambda t: t["status"] == "completed", timeout=60)
    a_done_when_b_finished = counting.answered("/a/")

    # B did not wait for A's backlog: most of A's tasks were still to run when B's had finished.
    assert a_done_when_b_finished < BURST // 2, a_done_when_b_finished
    assert counting.most_at_once("/a/") == SHARE  # the share held, and was used

    # Then A's share is lifted (it applies within a second): its backlog, put back again and again
    # meanwhile, drains at the stack's full speed, and every task still runs exactly once.
    stack.cli("teams", "set-limits", "--team", team_a.team, "--concurrency", "0")
    _wait_all_completed(team_a, BURST, timeout=300)
    calls = counting.calls_by_path("/a/")
    assert len(calls) == BURST and set(calls.values()) == {1}  # every A task called exactly once
    tasks = [team_a.task(task_id) for task_id in a_ids[::25]]  # and none of them retried or dead-lettered
    assert {(t["status"], t["retryCount"]) for t in tasks} == {("completed", 0)}


def test_a_destination_limit_of_two_in_flight_holds_at_the_target(stack: Stack, counting: CountingTarget) -> None:
    team = stack.new_team()
    stack.cli("teams", "set-destination-limit", "--team", team.team, "--host", "127.0.0.1", "--concurrency", "2")
    shown = stack.cli("teams", "show", "--team", team.team).stdout
    assert '"127.0.0.1"' in shown

    _create_many(team, [counting.url(f"/d/{i}") for i in range(30)])
    _wait_all_completed(team, 30, timeout=120)

    assert counting.most_at_once("/d/") == 2
    assert set(counting.calls_by_path("/d/").values()) == {1} and len(counting.calls_by_path("/d/")) == 30
