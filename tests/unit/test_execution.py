"""Executor.run over the in-memory repository with a scripted `call`, a fake clock and a fake sleep:
claims, retries as redeliveries, deadlines, crash takeover and exactly-once finishing (DESIGN.md §1, §3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhook.dispatch.sweep import Scheduler
from taskhook.model.attempt import Attempt
from taskhook.model.clock import iso
from taskhook.model.dispatch import Dispatch
from taskhook.model.lifecycle import Transition, can_transition
from taskhook.model.outcome import Outcome
from taskhook.model.retry import RetryPolicy
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from taskhook.run.executor import INLINE_BODY_LIMIT, Executor
from tests.support.fakes import InMemoryTaskRepository
from tests.support.recording import RecordingRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
TASK_ID = "task-1"
TEAM = "team-a"
URL = "https://api.example.com/webhook"
MARGIN = 30.0


def at(seconds: float) -> str:
    return iso(NOW + timedelta(seconds=seconds))


def make_task(**fields: Any) -> Task:
    data: dict[str, Any] = {
        "id": TASK_ID, "teamId": TEAM, "status": S.PENDING, "targetUrl": URL, "method": "POST",
        "body": '{"hello": "world"}', "createdAt": at(-60), "updatedAt": at(-60),
    }
    data.update(fields)
    return Task.model_validate(data)


def answer(code: int = 200, body: bytes = b'{"ok":true}', headers: dict[str, str] | None = None,
           duration_ms: int = 12) -> Attempt:
    return Attempt(code, headers=headers if headers is not None else {"content-type": "application/json"},
                   body=body, duration_ms=duration_ms,
                   error=None if code < 500 and code != 429 else f"HTTP {code}")


def failure(error: str = "HTTP 503", code: int | None = 503, retry_after: float | None = None) -> Attempt:
    return Attempt(code, error=error, retry_after=retry_after, duration_ms=3)


BLOCKED = Attempt(None, error="connection to 10.0.0.1 refused: private, loopback or link-local address",
                  blocked=True)


class FakeTime:
    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.on_sleep:
            self.on_sleep()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedCall:
    """The fake target: answers in order (the last one repeats), records (task, budget, time)."""

    def __init__(self, time: FakeTime, answers: list[Attempt]) -> None:
        self.time = time
        self.answers = list(answers)
        self.calls: list[tuple[Task, float, datetime]] = []
        self.during: Callable[[Task, float], None] | None = None

    def __call__(self, task: Task, budget: float) -> Attempt:
        self.calls.append((task, budget, self.time.now))
        if self.during is not None:
            self.during(task, budget)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    @property
    def count(self) -> int:
        return len(self.calls)


class FakeBodyStore:
    def __init__(self) -> None:
        self.puts: list[tuple[str, bytes, str]] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.puts.append((key, data, content_type))


class Harness:
    def __init__(self, *answers: Attempt, bodies: FakeBodyStore | None = None, claim_margin: float = MARGIN,
                 rand: Callable[[], float] | None = lambda: 0.5) -> None:
        self.repo = RecordingRepository()
        self.time = FakeTime()
        self.call = ScriptedCall(self.time, list(answers) or [answer()])
        self.holds: list[float] = []
        self.executor = self.executor_with(self.call, bodies=bodies, claim_margin=claim_margin, rand=rand)

    def executor_with(self, call: Callable[[Task, float], Attempt], **kwargs: Any) -> Executor:
        kwargs.setdefault("claim_margin", MARGIN)
        kwargs.setdefault("rand", lambda: 0.5)
        return Executor(self.repo, call, clock=self.time.clock, sleep=self.time.sleep, **kwargs)

    def add(self, **fields: Any) -> Task:
        task = make_task(**fields)
        self.repo.put_new(task)
        return task

    def run(self, task_id: str = TASK_ID, time_left: float = 300.0) -> Outcome:
        return self.executor.run(task_id, lambda: time_left, self.holds.append)

    def deliver_until_deleted(self, limit: int = 30) -> list[Outcome]:
        """What SQS does: deliver, and while the message stays, deliver it again after its visibility."""
        outcomes = []
        for _ in range(limit):
            outcome = self.run()
            outcomes.append(outcome)
            if outcome.delete:
                return outcomes
            self.time.advance(outcome.redeliver_after)
        raise AssertionError("the message was never deleted")

    def stored(self, task_id: str = TASK_ID) -> Task:
        task = self.repo.get(task_id)
        assert task is not None
        return task


# ---------------------------------------------------------------------------------------------
# success and final answers


def test_pending_task_completes_with_the_result_document() -> None:
    h = Harness(answer(200, b'{"ok":true}', {"content-type": "application/json", "x-id": "9"}, duration_ms=42))
    h.call.during = lambda task, budget: h.time.advance(2)
    h.add()

    outcome = h.run()

    assert outcome == Outcome(delete=True, note="completed")
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.result == {"statusCode": 200, "headers": {"content-type": "application/json", "x-id": "9"},
                           "body": '{"ok":true}', "duration": 42}
    assert task.error is None
    assert task.retryCount == 0
    assert task.startedAt == at(0)
    assert task.completedAt == at(2)
    assert task.updatedAt == at(2)
    assert task.claimToken is None
    assert h.call.count == 1
    assert h.repo.moves == [(S.PENDING, S.PROCESSING), (S.PROCESSING, S.COMPLETED)]


def test_the_call_sees_the_claimed_task() -> None:
    h = Harness()
    h.add()
    h.run()
    [(called, _, _)] = h.call.calls
    assert called.status is S.PROCESSING
    assert called.claimToken and called.claimedAt == at(0) and called.startedAt == at(0)
    assert called.targetUrl == URL and called.body == '{"hello": "world"}'


@pytest.mark.parametrize("code", [201, 204, 301, 302, 400, 401, 404, 410, 422])
def test_2xx_3xx_4xx_complete_without_retry(code: int) -> None:
    h = Harness(answer(code, b"answer"))
    h.add(maxRetries=3)
    outcome = h.run()
    assert outcome.delete is True
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.retryCount == 0
    assert task.result is not None and task.result["statusCode"] == code
    assert h.call.count == 1


def test_404_completes_and_a_redelivery_does_not_call_again() -> None:
    h = Harness(answer(404, b"not here"))
    h.add()
    assert h.deliver_until_deleted() == [Outcome(True, note="completed")]
    assert h.run() == Outcome(True, note="already completed")
    assert h.call.count == 1
    assert h.stored().result == {"statusCode": 404, "headers": {"content-type": "application/json"},
                                 "body": "not here", "duration": 12}


def test_success_after_a_retry_clears_the_previous_error() -> None:
    h = Harness(answer(200))
    h.add(retryCount=1, error="HTTP 503", startedAt=at(-5))
    h.run()
    task = h.stored()
    assert task.status is S.COMPLETED and task.error is None and task.retryCount == 1
    assert task.startedAt == at(-5)  # the first start stays


# ---------------------------------------------------------------------------------------------
# retries


@pytest.mark.parametrize(
    "attempt",
    [failure("HTTP 500", 500), failure("HTTP 502", 502), failure("HTTP 503", 503), failure("HTTP 429", 429),
     failure("timeout after 30s", None), failure("fetch failed: ECONNREFUSED", None),
     failure("fetch failed: socket hang up", None)],
    ids=lambda a: a.error,
)
def test_retryable_failure_goes_back_to_pending_for_a_redelivery(attempt: Attempt) -> None:
    h = Harness(attempt)
    h.add(retryCount=0, maxRetries=3)

    outcome = h.run()

    assert outcome.delete is False
    assert outcome.redeliver_after == 1  # exponential retry 1: base 1 s (rand 0.5 = no jitter)
    task = h.stored()
    assert task.status is S.PENDING
    assert task.retryCount == 1
    assert task.error == attempt.error
    assert task.claimToken is None
    assert task.startedAt == at(0)
    assert task.completedAt is None and task.result is None
    assert h.repo.moves == [(S.PENDING, S.PROCESSING), (S.PROCESSING, S.PENDING)]


@pytest.mark.parametrize(
    ("backoff", "retry_count", "rand", "expected"),
    [
        ("exponential", 0, 0.5, 1),
        ("exponential", 1, 0.5, 2),
        ("exponential", 2, 0.5, 4),
        ("exponential", 3, 1.0, 10),  # 8 * 1.2 = 9.6, whole seconds up
        ("exponential", 3, 0.0, 7),  # 8 * 0.8 = 6.4
        ("linear", 2, 0.5, 3),
        ("linear", 4, 0.0, 4),
        ("linear", 5, 1.0, 8),  # 6 * 1.2 = 7.2
    ],
)
def test_redelivery_waits_the_task_backoff_with_jitter(backoff: str, retry_count: int, rand: float,
                                                       expected: int) -> None:
    h = Harness(failure(), rand=lambda: rand)
    h.add(retryBackoff=backoff, retryCount=retry_count, maxRetries=10)
    outcome = h.run()
    assert outcome.redeliver_after == expected
    assert expected == math.ceil(RetryPolicy(backoff=backoff).delay(retry_count + 1, rand=lambda: rand))
    assert h.stored().retryCount == retry_count + 1


def test_default_jitter_stays_within_20_percent() -> None:
    for _ in range(20):
        h = Harness(failure(), rand=None)
        h.add(retryCount=4, maxRetries=10)  # retry 5: nominal 16 s
        assert 12.8 <= h.run().redeliver_after <= math.ceil(19.2)


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7), (120.0, 120), (0.5, 1), (5000.0, 900)])
def test_redelivery_honours_retry_after_up_to_the_cap(retry_after: float, expected: int) -> None:
    h = Harness(failure("HTTP 429", 429, retry_after=retry_after))
    h.add(maxRetries=3)
    assert h.run().redeliver_after == expected


@pytest.mark.parametrize("error", ["HTTP 503", "HTTP 429", "timeout after 5s", "fetch failed: ECONNREFUSED"])
def test_failure_with_every_retry_used_fails_the_task(error: str) -> None:
    h = Harness(failure(error))
    h.call.during = lambda task, budget: h.time.advance(1)
    h.add(retryCount=3, maxRetries=3, startedAt=at(-10))

    outcome = h.run()

    assert outcome == Outcome(True, note="failed")
    task = h.stored()
    assert task.status is S.FAILED
    assert task.error == error
    assert task.retryCount == 3
    assert task.completedAt == at(1)
    assert task.claimToken is None


def test_max_retries_2_always_503_makes_exactly_3_calls_then_fails() -> None:
    h = Harness(failure("HTTP 503"))
    h.add(maxRetries=2)

    outcomes = h.deliver_until_deleted()

    assert h.call.count == 3
    assert [o.delete for o in outcomes] == [False, False, True]
    assert [o.redeliver_after for o in outcomes[:2]] == [1, 2]
    task = h.stored()
    assert (task.status, task.retryCount, task.error) == (S.FAILED, 2, "HTTP 503")
    assert h.repo.terminal_writes() == [S.FAILED]


def test_max_retries_0_fails_on_the_first_failure() -> None:
    h = Harness(failure("fetch failed: ECONNREFUSED", None))
    h.add(maxRetries=0)
    assert h.deliver_until_deleted() == [Outcome(True, note="failed")]
    assert h.call.count == 1
    assert h.stored().error == "fetch failed: ECONNREFUSED"


def test_three_503s_then_200_completes_with_retry_count_3() -> None:
    h = Harness(failure(), failure(), failure(), answer(200, b"finally"))
    h.add(maxRetries=3)

    outcomes = h.deliver_until_deleted()

    assert h.call.count == 4
    assert [o.redeliver_after for o in outcomes[:-1]] == [1, 2, 4]
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.retryCount == 3
    assert task.error is None
    assert task.result is not None and task.result["body"] == "finally"
    assert task.startedAt == at(0)
    assert task.completedAt == at(7)
    assert h.repo.terminal_writes() == [S.COMPLETED]


def test_each_retry_is_called_after_its_backoff() -> None:
    h = Harness(failure(), failure(), answer())
    h.add(retryBackoff="linear", maxRetries=5)
    h.deliver_until_deleted()
    assert [when for _, _, when in h.call.calls] == [NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=3)]


def test_blocked_attempt_fails_at_once_without_retry() -> None:
    h = Harness(BLOCKED)
    h.add(maxRetries=3)
    assert h.deliver_until_deleted() == [Outcome(True, note="failed")]
    task = h.stored()
    assert task.status is S.FAILED
    assert task.retryCount == 0
    assert task.error == BLOCKED.error
    assert h.call.count == 1


# ---------------------------------------------------------------------------------------------
# messages that must not call


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_finished_or_cancelled_task_is_deleted_without_a_call(status: TaskStatus) -> None:
    h = Harness()
    h.add(status=status, completedAt=at(-1))
    before = h.stored()
    writes = h.repo.writes

    outcome = h.run()

    assert outcome == Outcome(True, note=f"already {status.value}")
    assert h.call.count == 0 and h.holds == []
    assert h.stored() == before
    assert h.repo.writes == writes


@pytest.mark.parametrize("status", [S.WAITING, S.POLLING])
def test_waiting_and_polling_tasks_are_not_the_executors(status: TaskStatus) -> None:
    h = Harness()
    h.add(status=status, startedAt=at(-1))
    outcome = h.run()
    assert outcome.delete is True
    assert h.call.count == 0
    assert h.stored().status is status


def test_unknown_task_id_is_deleted() -> None:
    h = Harness()
    assert h.run("no-such-task") == Outcome(True, note="no such task")
    assert h.call.count == 0 and h.holds == []


# ---------------------------------------------------------------------------------------------
# delayed tasks


@pytest.mark.parametrize("early", [1.6, 10.0, 899.0])
def test_delayed_task_arriving_early_is_redelivered_after_the_rest(early: float) -> None:
    h = Harness()
    h.add(status=S.DELAYED, delayUntil=at(early))

    outcome = h.run()

    assert outcome.delete is False
    assert outcome.redeliver_after == pytest.approx(early)
    assert h.call.count == 0 and h.time.sleeps == [] and h.holds == []
    assert h.stored().status is S.DELAYED
    assert h.repo.moves == []


@pytest.mark.parametrize("early", [0.2, 1.0, 1.5])
def test_delayed_task_up_to_1_5_s_early_waits_then_calls(early: float) -> None:
    h = Harness()
    h.add(status=S.DELAYED, delayUntil=at(early))

    outcome = h.run()

    assert outcome.delete is True
    assert h.time.sleeps == [pytest.approx(early)]
    assert [when for _, _, when in h.call.calls] == [NOW + timedelta(seconds=early)]
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.startedAt == at(early)
    assert h.repo.moves == [(S.DELAYED, S.PROCESSING), (S.PROCESSING, S.COMPLETED)]


def test_delayed_task_already_due_is_called_at_once() -> None:
    h = Harness()
    h.add(status=S.DELAYED, delayUntil=at(-3))
    h.run()
    assert h.time.sleeps == []
    assert h.call.count == 1
    assert h.stored().status is S.COMPLETED


def test_delayed_task_cancelled_during_the_early_wait_is_not_called() -> None:
    h = Harness()
    h.add(status=S.DELAYED, delayUntil=at(1))

    def cancel() -> None:
        current = h.stored()
        h.repo.apply(current, Transition(S.CANCELLED, {"completedAt": iso(h.time.now)}, from_=frozenset({S.DELAYED})))

    h.time.on_sleep = cancel
    outcome = h.run()
    assert outcome.delete is True
    assert h.call.count == 0
    assert h.stored().status is S.CANCELLED


# ---------------------------------------------------------------------------------------------
# claims: duplicates, crashes, exactly-once


@pytest.mark.parametrize(("claim_age", "redeliver_after"), [(0, 60), (5, 55), (59, 1)])
def test_processing_task_with_a_fresh_claim_is_left_alone(claim_age: float, redeliver_after: float) -> None:
    h = Harness()
    h.add(status=S.PROCESSING, claimToken="other-run", claimedAt=at(-claim_age), startedAt=at(-claim_age),
          timeout=30, maxWaitTime=300)
    before = h.stored()

    outcome = h.run()

    assert outcome.delete is False
    assert outcome.redeliver_after == pytest.approx(redeliver_after)
    assert h.call.count == 0 and h.holds == []
    assert h.stored() == before


def test_processing_task_with_a_stale_claim_is_taken_over_and_completed_once() -> None:
    h = Harness(answer(200, b"second run"))
    h.add(status=S.PROCESSING, claimToken="crashed-run", claimedAt=at(-61), startedAt=at(-61),
          timeout=30, maxWaitTime=300)

    outcome = h.run()

    assert outcome == Outcome(True, note="completed")
    assert h.call.count == 1
    [(called, _, _)] = h.call.calls
    assert called.claimToken not in (None, "crashed-run")
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.result is not None and task.result["body"] == "second run"
    assert task.startedAt == at(-61)  # maxWaitTime still counts from the first start
    assert h.repo.moves == [(S.PROCESSING, S.PROCESSING), (S.PROCESSING, S.COMPLETED)]
    assert h.run() == Outcome(True, note="already completed")
    assert h.call.count == 1


@pytest.mark.parametrize(("claim_age", "taken_over"), [(39.9, False), (40.0, True), (41, True)])
def test_staleness_is_timeout_plus_claim_margin(claim_age: float, taken_over: bool) -> None:
    h = Harness(claim_margin=10)
    h.add(status=S.PROCESSING, claimToken="old", claimedAt=at(-claim_age), startedAt=at(-claim_age),
          timeout=30, maxWaitTime=300)
    h.run()
    assert (h.call.count == 1) is taken_over


def test_a_duplicate_delivery_during_a_run_does_not_call_again() -> None:
    h = Harness(answer(200))
    twin_call = ScriptedCall(h.time, [answer(201)])
    twin = h.executor_with(twin_call)
    twin_outcomes: list[Outcome] = []
    h.call.during = lambda task, budget: twin_outcomes.append(twin.run(TASK_ID, lambda: 300.0, lambda s: None))
    h.add()

    assert h.run().delete is True

    assert twin_call.count == 0
    assert twin_outcomes[0].delete is False and twin_outcomes[0].note == "claimed by another run"
    assert h.call.count == 1
    assert h.stored().result is not None and h.stored().result["statusCode"] == 200
    assert h.repo.terminal_writes() == [S.COMPLETED]


def test_a_crashed_run_is_finished_once_by_its_successor() -> None:
    h = Harness(answer(200, b"by the successor"))
    h.add(timeout=30, maxWaitTime=600)

    def crash(task: Task, budget: float) -> Attempt:
        raise RuntimeError("Lambda killed mid-call")

    crashed = h.executor_with(crash)
    with pytest.raises(RuntimeError):
        crashed.run(TASK_ID, lambda: 300.0, h.holds.append)
    assert h.stored().status is S.PROCESSING

    # The message comes back when the crashed run's hold (budget + margin) expires: exactly stale.
    assert h.holds == [30 + MARGIN]
    h.time.advance(h.holds[0])
    outcomes = h.deliver_until_deleted()

    assert outcomes == [Outcome(True, note="completed")]
    assert h.call.count == 1
    assert h.stored().result is not None and h.stored().result["body"] == "by the successor"
    assert h.repo.terminal_writes() == [S.COMPLETED]


def test_a_redelivery_before_the_claim_is_stale_comes_back_when_it_is() -> None:
    h = Harness(answer(200))
    h.add(timeout=30, maxWaitTime=600)

    def crash(task: Task, budget: float) -> Attempt:
        raise RuntimeError("Lambda killed mid-call")

    with pytest.raises(RuntimeError):
        h.executor_with(crash).run(TASK_ID, lambda: 12.0, h.holds.append)  # budget 10: hold 40 < stale 60
    h.time.advance(h.holds[0])
    outcomes = h.deliver_until_deleted()
    assert [o.delete for o in outcomes] == [False, True]
    assert outcomes[0].redeliver_after == pytest.approx(20)
    assert h.call.count == 1


def _other_run_claims(h: Harness) -> None:
    current = h.stored()
    h.repo.apply(current, Transition(S.PROCESSING, {"claimToken": "other-run", "claimedAt": iso(h.time.now)},
                                     from_=frozenset({S.PROCESSING}), expect={"claimToken": current.claimToken}))


def _other_run_completes(h: Harness) -> None:
    _other_run_claims(h)
    current = h.stored()
    h.repo.apply(current, Transition(
        S.COMPLETED, {"result": {"statusCode": 201, "headers": {}, "body": "other run", "duration": 1},
                      "completedAt": iso(h.time.now), "claimToken": None, "error": None},
        from_=frozenset({S.PROCESSING}), expect={"claimToken": "other-run"}))


OUR_ATTEMPTS = [answer(200, b"ours"), failure("HTTP 503"), BLOCKED]


@pytest.mark.parametrize("ours", OUR_ATTEMPTS, ids=["final", "retryable", "blocked"])
@pytest.mark.parametrize("retry_count", [0, 3], ids=["retries-left", "last-retry"])
def test_a_run_that_lost_its_claim_leaves_the_finished_task_alone(ours: Attempt, retry_count: int) -> None:
    h = Harness(ours)
    h.add(retryCount=retry_count, maxRetries=3)
    h.call.during = lambda task, budget: _other_run_completes(h)

    outcome = h.run()

    assert outcome.delete is True
    assert "lost the claim" in outcome.note
    task = h.stored()
    assert task.status is S.COMPLETED
    assert task.result is not None and task.result["body"] == "other run"
    assert task.retryCount == retry_count
    assert h.repo.terminal_writes() == [S.COMPLETED]


@pytest.mark.parametrize("ours", OUR_ATTEMPTS, ids=["final", "retryable", "blocked"])
def test_a_run_that_lost_its_claim_leaves_the_new_claim_alone(ours: Attempt) -> None:
    h = Harness(ours)
    h.add(maxRetries=3)
    h.call.during = lambda task, budget: _other_run_claims(h)

    outcome = h.run()
    # its message stays (it may be the new claim's own: see the lost-race tests below), back when
    # the new claim would be stale (the task's timeout, 30 s, and the margin)
    assert outcome.delete is False and outcome.redeliver_after == pytest.approx(30 + MARGIN)

    task = h.stored()
    assert task.status is S.PROCESSING
    assert task.claimToken == "other-run"
    assert task.result is None and task.error is None and task.retryCount == 0


def test_a_late_answer_does_not_overwrite_the_sweeps_timeout() -> None:
    """A run so late that its claim went stale and the sweep's grace after it passed (a zombie):
    the sweep's timeout stands."""
    h = Harness(answer(200))
    h.add(maxWaitTime=20, timeout=30)
    queue: list[Dispatch] = []

    def sweep_meanwhile(task: Task, budget: float) -> None:
        scheduler = Scheduler(h.repo, type("Q", (), {"send": queue.append})(), clock=h.time.clock,
                              claim_margin=MARGIN)
        h.time.advance(30 + MARGIN + scheduler.grace + 1)
        scheduler.sweep()

    h.call.during = sweep_meanwhile
    assert h.run().delete is True
    task = h.stored()
    assert task.status is S.TIMEOUT
    assert task.result is None
    assert h.repo.terminal_writes() == [S.TIMEOUT]


def test_every_write_the_executor_makes_is_a_legal_transition() -> None:
    scenarios: list[tuple[list[Attempt], dict[str, Any]]] = [
        ([answer()], {}),
        ([failure(), failure(), answer()], {"maxRetries": 3}),
        ([failure()], {"maxRetries": 1}),
        ([BLOCKED], {}),
        ([answer()], {"status": S.DELAYED, "delayUntil": at(1)}),
        ([answer()], {"status": S.PROCESSING, "claimToken": "x", "claimedAt": at(-100), "startedAt": at(-100),
                      "maxWaitTime": 300}),
        ([answer()], {"status": S.PROCESSING, "claimToken": "x", "claimedAt": at(-100), "startedAt": at(-100)}),
        ([answer()], {"retryCount": 1, "startedAt": at(-31)}),
    ]
    for answers, fields in scenarios:
        h = Harness(*answers)
        h.add(**fields)
        h.deliver_until_deleted()
        assert h.repo.moves, fields
        illegal = [(a.value, b.value) for a, b in h.repo.moves if not can_transition(a, b)]
        assert illegal == [], fields


# ---------------------------------------------------------------------------------------------
# maxWaitTime


@pytest.mark.parametrize("overdue", [0.0, 1.0, 500.0])
def test_retry_pending_past_max_wait_time_times_out_without_a_call(overdue: float) -> None:
    h = Harness()
    h.add(retryCount=1, error="HTTP 503", startedAt=at(-30 - overdue), maxWaitTime=30)

    outcome = h.run()

    assert outcome == Outcome(True, note="timeout")
    task = h.stored()
    assert task.status is S.TIMEOUT
    assert task.error == "maxWaitTime of 30s exceeded"
    assert task.completedAt == at(0)
    assert h.call.count == 0 and h.holds == []


def test_stale_claim_past_max_wait_time_times_out_without_a_call() -> None:
    h = Harness()
    h.add(status=S.PROCESSING, claimToken="crashed", claimedAt=at(-61), startedAt=at(-121), maxWaitTime=60)
    assert h.run() == Outcome(True, note="timeout")  # the crashed run claimed it with no wait left
    assert h.call.count == 0
    task = h.stored()
    assert task.status is S.TIMEOUT and task.claimToken is None
    assert task.error == "maxWaitTime of 60s exceeded"


def test_a_crashed_claim_does_not_spend_max_wait_time() -> None:
    """Issue 11.4: the runner died 35 s into a task with maxWaitTime 30; its claim went stale after
    timeout + margin. The successor gets the time the crashed run had left, not a timeout."""
    h = Harness(answer(200, b"after the crash"), claim_margin=5)
    h.add(status=S.PROCESSING, claimToken="crashed", claimedAt=at(-35), startedAt=at(-35), timeout=30,
          maxWaitTime=30)

    assert h.run() == Outcome(True, note="completed")

    assert h.call.count == 1
    assert h.call.calls[0][1] == pytest.approx(30)  # the whole wait the crashed run had when it claimed
    task = h.stored()
    assert task.status is S.COMPLETED and task.error is None
    assert task.startedAt == at(-35)  # still the first start: the credit is bookkeeping
    assert task.waitCredit == pytest.approx(35)
    assert "waitCredit" not in task.public()


def test_crash_credit_adds_up_and_keeps_what_was_left() -> None:
    """A run claimed with 10 s of maxWaitTime left and crashed: its successor has those 10 s."""
    h = Harness(failure(), claim_margin=5)
    h.add(status=S.PROCESSING, claimToken="crashed", claimedAt=at(-40), startedAt=at(-80), timeout=30,
          maxWaitTime=50, retryCount=1, maxRetries=5)

    h.run()

    assert h.call.calls[0][1] == pytest.approx(10)
    assert h.stored().waitCredit == pytest.approx(40)


def test_a_retryable_failure_after_the_deadline_times_out() -> None:
    h = Harness(failure("timeout after 5s", None))
    h.add(retryCount=1, startedAt=at(-25), maxWaitTime=30, maxRetries=3)
    h.call.during = lambda task, budget: h.time.advance(budget)

    outcome = h.run()

    assert outcome == Outcome(True, note="timeout")
    assert h.call.calls[0][1] == pytest.approx(5)  # the budget was what maxWaitTime had left
    task = h.stored()
    assert task.status is S.TIMEOUT
    assert task.error == "maxWaitTime of 30s exceeded: timeout after 5s"
    assert task.retryCount == 1
    assert task.completedAt == at(5)


def test_a_503_after_the_deadline_times_out_even_with_retries_left() -> None:
    h = Harness(failure("HTTP 503"))
    h.add(maxWaitTime=10, timeout=30, maxRetries=5)
    h.call.during = lambda task, budget: h.time.advance(11)
    assert h.run().note == "timeout"
    assert h.stored().error == "maxWaitTime of 10s exceeded: HTTP 503"


def test_a_final_answer_arriving_at_the_deadline_still_completes() -> None:
    h = Harness(answer(200))
    h.add(maxWaitTime=10)
    h.call.during = lambda task, budget: h.time.advance(10)
    assert h.run().note == "completed"
    assert h.stored().status is S.COMPLETED


def test_a_delayed_task_has_no_deadline_before_it_starts() -> None:
    h = Harness()
    h.add(status=S.DELAYED, delayUntil=at(0), createdAt=at(-3600), maxWaitTime=30)
    assert h.run().note == "completed"


# ---------------------------------------------------------------------------------------------
# budget and hold


@pytest.mark.parametrize(
    ("fields", "time_left", "budget"),
    [
        ({"timeout": 10, "maxWaitTime": 100}, 300.0, 10),  # the attempt timeout
        ({"timeout": 30, "maxWaitTime": 100, "retryCount": 1, "startedAt": at(-90)}, 300.0, 10),  # maxWaitTime left
        ({"timeout": 30, "maxWaitTime": 100}, 12.0, 10),  # the invocation's time, minus 2 s
        ({"timeout": 30, "maxWaitTime": 100}, 2.5, 1.0),  # never less than 1 s
        ({"timeout": 5, "maxWaitTime": 5}, 300.0, 5),
    ],
)
def test_budget_is_min_of_timeout_wait_left_and_time_left(fields: dict[str, Any], time_left: float,
                                                         budget: float) -> None:
    h = Harness(claim_margin=20)
    h.add(**fields)
    h.run(time_left=time_left)
    assert h.call.calls[0][1] == pytest.approx(budget)
    assert h.holds == [pytest.approx(budget + 20)]


def test_hold_happens_before_the_call() -> None:
    h = Harness()
    h.call.during = lambda task, budget: h.holds.append(-1)
    h.add(timeout=7)
    h.run()
    assert h.holds == [7 + MARGIN, -1]


# ---------------------------------------------------------------------------------------------
# large bodies


def test_large_body_goes_to_the_body_store() -> None:
    store = FakeBodyStore()
    body = b"x" * (300 * 1024)
    h = Harness(answer(200, body, {"content-type": "application/json"}), bodies=store)
    h.add()

    h.run()

    key = f"results/{TEAM}/{TASK_ID}/body"
    assert store.puts == [(key, body, "application/json")]
    result = h.stored().result
    assert result is not None
    assert result["bodyKey"] == key
    assert result["bodySize"] == len(body)
    assert "body" not in result
    assert result["statusCode"] == 200


def test_large_body_without_content_type_is_stored_as_octet_stream() -> None:
    store = FakeBodyStore()
    h = Harness(answer(200, b"y" * (INLINE_BODY_LIMIT + 1), headers={}), bodies=store)
    h.add()
    h.run()
    assert store.puts[0][2] == "application/octet-stream"


def test_body_at_the_inline_limit_stays_inline() -> None:
    store = FakeBodyStore()
    h = Harness(answer(200, b"z" * INLINE_BODY_LIMIT), bodies=store)
    h.add()
    h.run()
    assert store.puts == []
    result = h.stored().result
    assert result is not None and len(result["body"]) == INLINE_BODY_LIMIT and "bodyKey" not in result


def test_failure_bodies_are_never_stored() -> None:
    store = FakeBodyStore()
    h = Harness(Attempt(503, body=b"e" * (INLINE_BODY_LIMIT + 1), error="HTTP 503"), bodies=store)
    h.add(maxRetries=0)
    h.run()
    assert store.puts == []
    assert h.stored().status is S.FAILED


# ---------------------------------------------------------------------------------------------
# Outcome


def test_outcome_helpers() -> None:
    assert Outcome.done("x") == Outcome(True, 0.0, "x")
    assert Outcome.again(12.5, "y") == Outcome(False, 12.5, "y")
    assert Outcome.again(-3).redeliver_after == 0.0


def test_a_duplicate_delivery_during_the_backoff_does_not_retry_early() -> None:
    from datetime import UTC, datetime, timedelta

    from taskhook.model.attempt import Attempt
    from taskhook.model.status import TaskStatus
    from taskhook.model.task import Task
    from taskhook.run.executor import Executor

    now = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    repo = InMemoryTaskRepository()
    repo.put_new(Task(id="t", teamId="a", status=TaskStatus.PENDING, targetUrl="https://x.test/",
                      createdAt="2026-01-01T12:00:00.000Z", maxRetries=3, maxWaitTime=600))
    answers = [Attempt(429, error="HTTP 429", retry_after=30), Attempt(200)]
    calls: list[str] = []

    def call(task: Task, budget: float) -> Attempt:
        calls.append(task.id)
        return answers.pop(0)

    executor = Executor(repo, call, clock=lambda: now[0], rand=lambda: 0.5)
    first = executor.run("t", lambda: 300.0, lambda s: None)
    assert (first.delete, first.redeliver_after) == (False, 30)
    # A second copy of the message arrives 2 s later: it waits out the rest, the target is not called.
    now[0] += timedelta(seconds=2)
    duplicate = executor.run("t", lambda: 300.0, lambda s: None)
    assert (duplicate.delete, duplicate.redeliver_after) == (False, 28)
    assert calls == ["t"] and repo.get("t").status is TaskStatus.PENDING
    # Once the backoff is over, it runs.
    now[0] += timedelta(seconds=28)
    assert executor.run("t", lambda: 300.0, lambda s: None).delete
    assert calls == ["t", "t"] and repo.get("t").status is TaskStatus.COMPLETED


# ---------------------------------------------------------------------------------------------
# a lost race never deletes the message of a task that has not ended
#
# The 10,000-task soak lost a task this way: a run (A) outlasted its hold, so SQS delivered the same
# message again (B) while A went on. A recorded its retry and left the message for the backoff; B's
# claim lost to A's move, and B deleted the message (the emulator, like SQS "might", deleted it with
# B's older receipt handle). The task stayed pending with no message.


def _someone_claims(h: Harness) -> None:
    current = h.stored()
    h.repo.apply(current, Transition(S.PROCESSING, {"claimToken": "other-run", "claimedAt": iso(h.time.now)},
                                     from_=frozenset({current.status}), expect={"claimToken": current.claimToken}))


def test_a_claim_lost_to_a_run_still_going_keeps_the_message_until_that_claim_is_stale() -> None:
    h = Harness(answer())
    h.add(timeout=5)
    repo_apply = h.repo.apply
    raced: list[bool] = []

    def claim_after_another(task: Task, transition: Transition) -> Task:
        if transition.target is S.PROCESSING and not raced:
            raced.append(True)
            _someone_claims(h)  # between our read and our claim
        return repo_apply(task, transition)

    h.repo.apply = claim_after_another  # type: ignore[method-assign]
    outcome = h.run()

    assert outcome.delete is False
    assert outcome.redeliver_after == pytest.approx(5 + MARGIN)  # when the other run's claim goes stale
    assert h.call.count == 0 and h.stored().claimToken == "other-run"


def test_a_lost_race_on_a_task_that_ended_deletes_the_message() -> None:
    h = Harness(failure("HTTP 503"))
    h.add(maxRetries=3)
    h.call.during = lambda task, budget: _other_run_completes(h)
    assert h.run().delete is True
