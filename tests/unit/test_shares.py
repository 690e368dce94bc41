"""The gate before the claim (run/shares.py) and the executor's put-back: a team's share, a
destination's calls in flight and calls per second, the put-back delays, the churn memo, and the
release of every slot on every path (success, retry, exception, lost claim, function tasks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhook.model.attempt import Attempt
from taskhook.model.clock import iso
from taskhook.model.errors import Busy
from taskhook.model.lifecycle import cancel
from taskhook.model.outcome import Outcome
from taskhook.model.plan import DestinationLimit, PlanBook, TeamPlan
from taskhook.model.rate import RateDecision
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.executor import Executor
from taskhook.run.functions.registry import Registry
from taskhook.run.functions.runner import FunctionRunner
from taskhook.run.shares import (
    PUT_BACK_MAX_SECONDS,
    Admission,
    Refusal,
    Shares,
    inflight_key,
    put_back_delay,
    rate_key,
    share_key,
)
from tests.support.fakes import InMemoryLeaseStore, InMemoryObjectStore, InMemoryPlanStore, InMemoryTaskRepository

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
EPOCH = NOW.timestamp()
A, B = "team-a", "team-b"
HOST = "api.replicate.com"
MARGIN = 30.0


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeRates:
    def __init__(self, allowed: bool = True, retry_after: float = 0.0) -> None:
        self.allowed = allowed
        self.retry_after = retry_after
        self.calls: list[tuple[str, float, int]] = []

    def admit(self, key: str, rps: float, burst: int) -> RateDecision:
        self.calls.append((key, rps, burst))
        return RateDecision(self.allowed, burst, 0, 1.0, 0.0 if self.allowed else self.retry_after)


class BusyLeases(InMemoryLeaseStore):
    def __init__(self, busy_keys: set[str]) -> None:
        super().__init__(lambda: EPOCH)
        self.busy_keys = busy_keys

    def acquire(self, key: str, lease_id: str, limit: int, expires_at: float) -> bool:
        if key in self.busy_keys:
            raise Busy()
        return super().acquire(key, lease_id, limit, expires_at)


class World:
    def __init__(self, leases: InMemoryLeaseStore | None = None, rates: FakeRates | None = None) -> None:
        self.plans = InMemoryPlanStore()
        self.leases = leases or InMemoryLeaseStore(lambda: EPOCH)
        self.rates = rates
        self.ticks = Ticks()
        self.repo = InMemoryTaskRepository()
        self.shares = Shares(PlanBook(self.plans.load, TeamPlan(), ttl=0).plan_of, self.leases, rates,
                             clock=lambda: EPOCH, monotonic=self.ticks)
        self.calls: list[str] = []
        self.in_call: list[dict[str, dict[str, float]]] = []
        self.answer: Callable[[Task], Attempt] = lambda task: Attempt(200, body=b"{}")
        self.registry = Registry()
        functions = FunctionRunner(self.registry, progress=self.repo, outputs=InMemoryObjectStore(), interval=1.0)
        self.executor = Executor(self.repo, self._call, clock=lambda: NOW, sleep=lambda s: None,
                                 claim_margin=MARGIN, rand=lambda: 1.0, functions=functions, shares=self.shares)

    def _call(self, task: Task, budget: float) -> Attempt:
        self.calls.append(task.id)
        self.in_call.append({k: dict(v) for k, v in self.leases.leases.items()})
        return self.answer(task)

    def add(self, task_id: str, team: str = A, url: str = f"https://{HOST}/v1/predictions", **fields: Any) -> Task:
        data: dict[str, Any] = {"id": task_id, "teamId": team, "status": TaskStatus.PENDING, "targetUrl": url,
                                "method": "POST", "createdAt": iso(NOW - timedelta(seconds=5)),
                                "updatedAt": iso(NOW - timedelta(seconds=5)), **fields}
        task = Task.model_validate(data)
        self.repo.put_new(task)
        return task

    def run(self, task_id: str, put_backs: int = 0) -> Outcome:
        return self.executor.run(task_id, lambda: 300.0, lambda s: None, put_backs)

    def hold(self, key: str, *lease_ids: str) -> None:
        for lease_id in lease_ids:
            assert self.leases.acquire(key, lease_id, 1000, EPOCH + 600)

    def status(self, task_id: str) -> TaskStatus:
        task = self.repo.get(task_id)
        assert task is not None
        return task.status


def test_a_team_without_a_share_or_limits_costs_no_limits_call() -> None:
    world = World(rates=FakeRates())
    world.add("t1")

    assert world.run("t1") == Outcome.done("completed")
    assert world.leases.calls == [] and world.rates is not None and world.rates.calls == []


def test_a_team_over_its_share_is_put_back_unclaimed_and_uncalled() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=2))
    world.hold(share_key(A), "x1", "x2")  # two of A's tasks run elsewhere
    world.add("t1")

    outcome = world.run("t1")

    assert outcome.put_back and outcome.delete and outcome.redeliver_after >= 1
    assert "share" in outcome.note
    assert world.calls == [] and world.status("t1") is TaskStatus.PENDING
    assert world.repo.get("t1").claimToken is None  # type: ignore[union-attr]
    assert set(world.leases.held(share_key(A))) == {"x1", "x2"}  # nothing taken, nothing freed


def test_another_team_runs_while_one_is_at_its_share() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    world.hold(share_key(A), "x1")
    world.add("a1")
    world.add("b1", team=B)

    assert world.run("a1").put_back
    assert world.run("b1") == Outcome.done("completed")
    assert world.calls == ["b1"]


def test_a_run_holds_one_slot_for_its_budget_plus_the_margin_and_gives_it_back() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=2))
    world.add("t1", timeout=45, maxWaitTime=600)

    assert world.run("t1") == Outcome.done("completed")

    (held,) = world.in_call
    (expiry,) = held[share_key(A)].values()
    assert expiry == EPOCH + 45 + MARGIN
    assert world.leases.held(share_key(A)) == {}
    assert [c[0] for c in world.leases.calls] == ["acquire", "release"]


@pytest.mark.parametrize("path", ["retry", "failed", "exception", "lost-claim", "cancelled-before-claim"])
def test_the_slot_is_released_on_every_path(path: str) -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1, destinations={HOST: DestinationLimit(concurrency=1)}))
    world.add("t1", maxRetries=3)
    if path == "retry":
        world.answer = lambda task: Attempt(503, error="HTTP 503")
    elif path == "failed":
        world.answer = lambda task: Attempt(None, error="refused", blocked=True)
    elif path == "exception":
        def boom(task: Task) -> Attempt:
            raise RuntimeError("the call blew up")
        world.answer = boom
    elif path == "lost-claim":
        def cancel_meanwhile(task: Task) -> Attempt:  # another run takes over the claim meanwhile
            stored = world.repo.get(task.id)
            assert stored is not None
            world.repo._rows[task.id] = stored.model_copy(update={"claimToken": "someone-else"})
            return Attempt(200, body=b"{}")
        world.answer = cancel_meanwhile
    elif path == "cancelled-before-claim":
        real_apply = world.repo.apply
        from taskhook.model.errors import Conflict

        def refuse_claim(task: Task, transition: Any) -> Task:
            if transition.target is TaskStatus.PROCESSING:
                raise Conflict("cancelled meanwhile")
            return real_apply(task, transition)
        world.repo.apply = refuse_claim  # type: ignore[method-assign]

    if path == "exception":
        with pytest.raises(RuntimeError):
            world.run("t1")
    else:
        world.run("t1")

    assert world.leases.held(share_key(A)) == {}
    assert world.leases.held(inflight_key(A, HOST)) == {}
    world.answer = lambda task: Attempt(200, body=b"{}")
    world.add("t2")
    assert not world.run("t2").put_back  # the slots are free for the next task


def test_function_tasks_count_towards_the_share_and_release_it() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))

    @world.registry.task(namespace="ex")
    def add(a: int, b: int) -> int:
        world.in_call.append({k: dict(v) for k, v in world.leases.leases.items()})
        return a + b

    world.add("f1", kind="function", namespace="ex", name="add", args={"a": 1, "b": 2}, targetUrl=None)

    assert world.run("f1") == Outcome.done("completed")
    assert len(world.in_call[0][share_key(A)]) == 1
    assert world.leases.held(share_key(A)) == {}


def test_a_destination_concurrency_limit_puts_back_calls_to_that_host_only() -> None:
    world = World()
    world.plans.save(A, TeamPlan(destinations={HOST: DestinationLimit(concurrency=2)}))
    world.hold(inflight_key(A, HOST), "x1", "x2")
    world.add("t1")
    world.add("t2", url="https://other.example.com/hook")
    world.add("t3", url=f"https://{HOST.upper()}./v1/x")  # the same host, written differently

    assert world.run("t1").put_back
    assert world.run("t3").put_back
    assert world.run("t2") == Outcome.done("completed")
    assert world.calls == ["t2"]
    assert share_key(A) not in world.leases.leases  # no share: no share lease taken


def test_the_share_slot_is_given_back_when_the_destination_refuses() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=3, destinations={HOST: DestinationLimit(concurrency=1)}))
    world.hold(inflight_key(A, HOST), "x1")
    world.add("t1")

    assert world.run("t1").put_back
    assert world.leases.held(share_key(A)) == {}


def test_a_destination_rate_puts_back_until_its_next_token() -> None:
    rates = FakeRates(allowed=False, retry_after=7.2)
    world = World(rates=rates)
    world.plans.save(A, TeamPlan(destinations={HOST: DestinationLimit(rps=0.5, burst=2)}))
    world.add("t1")

    outcome = world.run("t1")

    assert outcome.put_back and outcome.redeliver_after == 8  # never before the next token
    assert rates.calls == [(rate_key(A, HOST), 0.5, 2)]
    assert world.calls == []

    rates.allowed = True
    world.ticks.now += 2.0  # past the memo
    assert world.run("t1") == Outcome.done("completed")


def test_the_rate_is_asked_only_after_the_slots_are_taken() -> None:
    """A task refused for concurrency spends no token of the destination's rate."""
    rates = FakeRates()
    world = World(rates=rates)
    world.plans.save(A, TeamPlan(destinations={HOST: DestinationLimit(concurrency=1, rps=5)}))
    world.hold(inflight_key(A, HOST), "x1")
    world.add("t1")

    assert world.run("t1").put_back
    assert rates.calls == []


def test_put_back_delays_grow_with_the_put_backs_and_are_capped() -> None:
    most = [put_back_delay(n, rand=lambda: 1.0) for n in range(8)]
    least = [put_back_delay(n, rand=lambda: 0.0) for n in range(8)]

    assert most == [2, 4, 5, 5, 5, 5, 5, 5]
    assert least == [1, 2, 3, 3, 3, 3, 3, 3]
    assert all(1 <= d <= PUT_BACK_MAX_SECONDS for d in most + least)
    assert put_back_delay(0, retry_after=3.1, rand=lambda: 0.0) == 4
    assert put_back_delay(10**6, rand=lambda: 1.0) == PUT_BACK_MAX_SECONDS


def test_the_executor_passes_the_put_backs_so_far_to_the_delay() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    world.hold(share_key(A), "x1")
    world.add("t1")

    assert world.run("t1", put_backs=0).redeliver_after == 2
    world.ticks.now += 1
    assert world.run("t1", put_backs=1).redeliver_after == 4


def test_a_full_share_is_remembered_briefly_so_a_backlog_churns_without_limits_writes() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    world.hold(share_key(A), "x1")
    for n in range(50):
        world.add(f"t{n}")

    before = len(world.leases.calls)
    outcomes = [world.run(f"t{n}") for n in range(50)]

    assert all(o.put_back for o in outcomes)
    assert len(world.leases.calls) - before == 1  # one acquire found it full; 49 put back from memory

    world.ticks.now += 0.2  # the memo lapses: the store is asked again
    assert world.run("t0").put_back
    assert len(world.leases.calls) - before == 2


def test_a_slot_released_in_this_process_ends_the_memo_at_once() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    world.add("t1")
    world.add("t2")
    world.add("t3")

    def meanwhile(task: Task) -> Attempt:
        if task.id == "t1":
            assert world.run("t2").put_back  # t1 holds the only slot
        return Attempt(200, body=b"{}")

    world.answer = meanwhile
    assert world.run("t1") == Outcome.done("completed")
    assert world.run("t3") == Outcome.done("completed")  # no wait for the memo to lapse


def test_a_busy_limits_table_puts_back_and_keeps_nothing() -> None:
    world = World(leases=BusyLeases({inflight_key(A, HOST)}))
    world.plans.save(A, TeamPlan(concurrency=2, destinations={HOST: DestinationLimit(concurrency=1)}))
    world.add("t1")

    outcome = world.run("t1")

    assert outcome.put_back and "busy" in outcome.note
    assert world.leases.held(share_key(A)) == {}
    assert world.calls == []


def test_admission_release_survives_a_failing_store() -> None:
    class Failing(InMemoryLeaseStore):
        def release(self, key: str, lease_id: str) -> None:
            raise RuntimeError("network")

    admission = Admission(Failing(), [("share:a", "l1"), ("inflight:a:h", "l2")])
    admission.release()  # logged, left to expire
    assert admission.held == []


def test_shares_answers_refusal_or_admission() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    task = world.add("t1")
    first = world.shares.admit(task, 10)
    second = world.shares.admit(task, 10)
    assert isinstance(first, Admission) and isinstance(second, Refusal)
    first.release()
    assert world.leases.held(share_key(A)) == {}


def test_a_put_back_carries_the_team_and_its_next_delivery_skips_the_read_while_the_share_is_full() -> None:
    world = World()
    world.plans.save(A, TeamPlan(concurrency=1))
    world.hold(share_key(A), "x1")
    world.add("t1")
    reads: list[str] = []
    real_get = world.repo.get

    def counted_get(task_id: str) -> Task | None:
        reads.append(task_id)
        return real_get(task_id)

    world.repo.get = counted_get  # type: ignore[method-assign]

    first = world.run("t1")
    assert first.put_back and first.team == A and reads == ["t1"]

    again = world.executor.run("t1", lambda: 300.0, lambda s: None, 1, team=A)
    assert again.put_back and again.team == A
    assert reads == ["t1"]  # no read of the task, no limits call: the memo said full

    world.ticks.now += 1  # the memo lapsed: the task is read and the store asked again
    world.leases.release(share_key(A), "x1")
    assert world.executor.run("t1", lambda: 300.0, lambda s: None, 2, team=A) == Outcome.done("completed")
    assert reads == ["t1", "t1"]


def test_a_team_named_by_a_message_but_not_known_full_is_read_as_usual() -> None:
    world = World()
    world.add("t1", team=B)
    assert world.executor.run("t1", lambda: 300.0, lambda s: None, 3, team=B) == Outcome.done("completed")


def test_a_throttled_plan_read_puts_back_instead_of_failing_the_record() -> None:
    def busy_plan(team: str) -> TeamPlan:
        raise Busy()

    world = World()
    world.executor.shares = Shares(busy_plan, world.leases, clock=lambda: EPOCH, monotonic=world.ticks)
    world.add("t1")

    outcome = world.run("t1")

    assert outcome.put_back and world.calls == [] and world.leases.calls == []


@pytest.mark.parametrize("row_since", ["changed", "cancelled"])
def test_a_carried_row_whose_claim_fails_takes_one_rate_token_and_gives_its_slots_back(row_since: str) -> None:
    """A create's message carries the row (run/executor.py, CARRIED); the claim from it fails when
    the row moved on, and the delivery decides again on the row read. A rate limit's token is not
    given back, so the decision on the row goes on with the slots the first one took (a review
    found the fallback admitting again: two tokens for one call)."""
    world = World(rates=FakeRates())
    world.plans.save(A, TeamPlan(concurrency=1, destinations={HOST: DestinationLimit(concurrency=1, rps=1)}))
    carried = world.add("t1")
    if row_since == "changed":  # a bookkeeping write since (the version alone moved on)
        world.repo._rows["t1"] = carried.model_copy(update={"version": 2})
    else:
        world.repo.apply(carried, cancel(NOW))

    outcome = world.executor.run("t1", lambda: 300.0, lambda s: None, 0, carried=carried)

    assert world.rates is not None and len(world.rates.calls) == 1
    assert all(not held for held in world.leases.leases.values())
    if row_since == "changed":
        assert outcome == Outcome.done("completed") and world.calls == ["t1"]
        assert len(world.in_call) == 1 and world.in_call[0][share_key(A)]  # the run held the team's slot
    else:
        assert outcome.delete and world.calls == [] and world.status("t1") is TaskStatus.CANCELLED
