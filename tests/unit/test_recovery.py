"""After a restart with restored tables (the queues are empty): every unfinished task gets its
message back, with the delay it still has; a processing claim of the old run is released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from taskhook.dispatch.recovery import Recovery, RecoveryReport
from taskhook.model.clock import iso
from taskhook.model.dispatch import Dispatch
from taskhook.model.lanes import Lane
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskQueue, InMemoryTaskRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def at(seconds: float) -> str:
    return iso(NOW + timedelta(seconds=seconds))


def task(task_id: str, status: TaskStatus, **fields: Any) -> Task:
    return Task.model_validate({"id": task_id, "teamId": "t", "status": status, "targetUrl": "https://x.example/",
                                "createdAt": at(-100), "updatedAt": at(-100), **fields})


def recover(*tasks: Task, broken: tuple[Lane, ...] = ()
            ) -> tuple[RecoveryReport, InMemoryTaskRepository, InMemoryTaskQueue]:
    repo, queue = InMemoryTaskRepository(), InMemoryTaskQueue(broken_lanes=broken)
    for t in tasks:
        repo.put_new(t)
    report = Recovery(repo, queue, clock=lambda: NOW).recover(tasks)
    return report, repo, queue


def test_every_unfinished_task_gets_its_message_back_with_the_delay_it_still_has() -> None:
    report, _, queue = recover(
        task("new", S.PENDING, priority=9),
        task("backing-off", S.PENDING, retryCount=1, retryAt=at(12.5)),
        task("short-delay", S.DELAYED, delayUntil=at(20), createdAt=at(-5)),
        task("swept", S.DELAYED, delayUntil=at(40), createdAt=at(-3600), dispatchedAt=at(-30)),
        task("far", S.DELAYED, delayUntil=at(7200), createdAt=at(-5)),
        task("done", S.COMPLETED),
        task("cancelled", S.CANCELLED),
    )
    assert sorted(queue.sent, key=lambda d: d.task_id) == [
        Dispatch("backing-off", Lane.NORMAL, 12),
        Dispatch("new", Lane.HIGH, 0),
        Dispatch("short-delay", Lane.NORMAL, 20),
        Dispatch("swept", Lane.NORMAL, 40),
    ]
    assert report.left_to_sweep == ["far"]


def test_a_claim_of_the_run_that_died_is_released_without_using_a_retry() -> None:
    report, repo, queue = recover(task("running", S.PROCESSING, claimToken="old-run", claimedAt=at(-3),
                                         startedAt=at(-3), retryCount=1, error="HTTP 503"))
    stored = repo.get("running")
    assert stored is not None
    assert (stored.status, stored.claimToken, stored.retryCount, stored.error) == (S.PENDING, None, 1, "HTTP 503")
    assert stored.startedAt == at(-3)  # maxWaitTime still counts from the first start,
    assert stored.waitCredit == 3  # but the 3 s the dead run held it are given back
    assert queue.sent == [Dispatch("running", Lane.NORMAL, 0)]
    assert report.as_dict() == {
        "released": 1, "dispatched": 1, "leftToSweep": 0, "notSent": 0}


def test_what_could_not_be_sent_is_reported() -> None:
    report, _, queue = recover(task("a", S.PENDING, priority=9), task("b", S.PENDING), broken=(Lane.HIGH,))
    assert queue.sent == [Dispatch("b", Lane.NORMAL, 0)]
    assert report.not_sent == ["a"]


def test_a_polling_task_gets_its_poll_message_back_and_a_waiting_one_none() -> None:
    repo, queue = InMemoryTaskRepository(), InMemoryTaskQueue()
    for t in [task("new", S.PENDING), task("waiting", S.WAITING, startedAt=at(-50)),
              task("polling", S.POLLING, startedAt=at(-50), priority=9, claimToken="poll-1"),
              task("far", S.DELAYED, delayUntil=at(7200)), task("done", S.COMPLETED)]:
        repo.put_new(t)

    report = Recovery(repo, queue, clock=lambda: NOW).recover(repo.unfinished())

    # A polling task's next poll lived only in its lost lane message: a plain message makes the
    # executor send the poll chain again with the stored poll token (run/poll.py). A callback, not a
    # lane message, moves a waiting task on.
    assert queue.sent == [Dispatch("new", Lane.NORMAL, 0), Dispatch("polling", Lane.HIGH, 0)]
    assert report.as_dict() == {"released": 0, "dispatched": 2, "leftToSweep": 1, "notSent": 0}
    assert {t.id: (t.status, t.claimToken) for t in (repo.get(i) for i in ("waiting", "polling")) if t} == {
        "waiting": (S.WAITING, None), "polling": (S.POLLING, "poll-1")}
