"""The attempt history (model/attempt_log.py): every attempt's end recorded by the write that ends it."""

from __future__ import annotations

from datetime import timedelta

from taskhook.model import lifecycle
from taskhook.model.attempt_log import ATTEMPT_LOG_LIMIT
from taskhook.model.status import TaskStatus
from tests.unit.test_execution import NOW, Harness, answer, at, failure, make_task

S = TaskStatus


def test_each_attempt_is_recorded_by_the_write_that_ends_it() -> None:
    h = Harness(failure(), failure("fetch failed: ECONNREFUSED", code=None), answer(200, duration_ms=40))
    h.add(maxRetries=3)

    h.deliver_until_deleted()

    task = h.stored()
    assert task.attemptsTotal == 3
    assert task.attempts == [
        {"attempt": 1, "startedAt": at(0), "finishedAt": at(0), "durationMs": 0, "outcome": "retry",
         "statusCode": 503, "error": "HTTP 503", "nextRetryAt": at(1)},
        {"attempt": 2, "startedAt": at(1), "finishedAt": at(1), "durationMs": 0, "outcome": "retry",
         "error": "fetch failed: ECONNREFUSED", "nextRetryAt": at(3)},
        {"attempt": 3, "startedAt": at(3), "finishedAt": at(3), "durationMs": 0, "outcome": "completed",
         "statusCode": 200},
    ]
    # no write of its own: claim + end per attempt, as before
    assert len(h.repo.moves) == 6
    assert task.public()["attempts"] == task.attempts and task.public()["attemptsTotal"] == 3


def test_a_failed_task_records_its_last_answer_and_the_duration_of_the_call() -> None:
    h = Harness(failure("HTTP 500", code=500))
    h.add(maxRetries=0)
    h.call.during = lambda task, budget: h.time.advance(2.5)

    h.deliver_until_deleted()

    [entry] = h.stored().attempts or []
    assert entry == {"attempt": 1, "startedAt": at(0), "finishedAt": at(2.5), "durationMs": 2500,
                     "outcome": "failed", "statusCode": 500, "error": "HTTP 500"}


def test_only_the_last_20_attempts_are_kept_and_all_are_counted() -> None:
    h = Harness(failure())
    h.add(maxRetries=25, retryBackoff="linear", maxWaitTime=86400)

    h.deliver_until_deleted(limit=40)

    task = h.stored()
    assert task.status is S.FAILED
    assert task.attemptsTotal == 26
    attempts = task.attempts or []
    assert len(attempts) == ATTEMPT_LOG_LIMIT
    assert [a["attempt"] for a in attempts] == list(range(7, 27))
    assert attempts[-1]["outcome"] == "failed" and "nextRetryAt" not in attempts[-1]


def test_a_crashed_run_is_recorded_when_its_successor_takes_over() -> None:
    h = Harness(answer(200))
    h.add(status=S.PROCESSING, claimToken="crashed-run", claimedAt=at(-61), startedAt=at(-61),
          timeout=30, maxWaitTime=300)

    h.run()

    attempts = h.stored().attempts or []
    assert [(a["attempt"], a["outcome"], a["startedAt"], a["durationMs"]) for a in attempts] == [
        (1, "crashed", at(-61), 61000), (2, "completed", at(0), 0)]


def test_an_ending_without_a_run_records_no_attempt() -> None:
    pending = make_task()
    assert "attempts" not in lifecycle.cancel(NOW).changes
    assert "attempts" not in lifecycle.time_out(pending, NOW, None).changes
    assert "attempts" not in lifecycle.dead_letter(pending, NOW + timedelta(seconds=1)).changes


def test_a_first_attempt_that_completes_is_shown_but_not_stored() -> None:
    h = Harness(answer(201))
    h.add()
    h.call.during = lambda task, budget: h.time.advance(0.25)

    h.run()

    task = h.stored()
    assert task.attempts is None and task.attemptsTotal is None
    assert task.public()["attempts"] == [{"attempt": 1, "startedAt": at(0), "finishedAt": at(0.25),
                                          "durationMs": 250, "outcome": "completed", "statusCode": 201}]
    assert task.public()["attemptsTotal"] == 1
    assert "attempts" not in make_task().public()
