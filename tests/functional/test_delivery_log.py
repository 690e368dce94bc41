"""The DeliveryLog contract, run against the in-memory fake (on an InMemoryTaskRepository's rows)
and against DynamoNotificationLog on moto's tasks table.

The same test body must pass for both: the entries are read back through the task repository
the log writes beside (what clients see as the task's `notifications`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from taskhook.adapters.dynamo.notification_log import DynamoNotificationLog
from taskhook.container import container
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.notify.rules import CALLBACK, ON_COMPLETE, Notification
from taskhook.ports import DeliveryLog, TaskRepository
from tests.support.fakes import InMemoryDeliveryLog, InMemoryTaskRepository

TASK_ID = "task-1"
CALLBACK_URL = "https://x.test/cb?task_id=task-1&status=completed"
DONE_URL = "https://x.test/done"


@dataclass
class Logged:
    log: DeliveryLog
    tasks: TaskRepository

    def entries(self, task_id: str = TASK_ID) -> dict[str, dict[str, Any]] | None:
        task = self.tasks.get(task_id)
        assert task is not None
        return task.notifications


@pytest.fixture(params=["memory", "dynamo"])
def logged(request: pytest.FixtureRequest) -> Logged:
    if request.param == "memory":
        tasks = InMemoryTaskRepository()
        return Logged(InMemoryDeliveryLog(tasks), tasks)
    request.getfixturevalue("aws")
    return Logged(DynamoNotificationLog(container().task_model), container().task_repository)


def stored_task(logged: Logged, task_id: str = TASK_ID) -> Task:
    task = Task(id=task_id, teamId="team-a", status=TaskStatus.COMPLETED, createdAt="2024-01-15T10:30:00.000Z",
                targetUrl="https://api.example.com/hook", callbackUrl="https://x.test/cb", onCompleteUrl=DONE_URL)
    logged.tasks.put_new(task)
    return task


def notification(kind: str = CALLBACK, task_id: str = TASK_ID, sequence: str = "42") -> Notification:
    suffix = "cb" if kind == CALLBACK else "oc"
    return Notification(f"ntf_{task_id}_{sequence}_{suffix}", task_id, "team-a", kind,
                        "https://x.test/cb" if kind == CALLBACK else DONE_URL, "completed", sequence)


def test_the_first_record_creates_the_tasks_entry(logged: Logged) -> None:
    stored_task(logged)
    n = notification()

    logged.log.record(n, CALLBACK_URL, "retrying", 1, "HTTP 503")

    assert logged.entries() == {n.id: {"kind": CALLBACK, "url": CALLBACK_URL, "status": "retrying", "attempts": 1,
                                       "sequence": "42", "taskStatus": "completed", "lastError": "HTTP 503"}}


def test_a_later_record_replaces_the_entry_whole(logged: Logged) -> None:
    stored_task(logged)
    n = notification()
    logged.log.record(n, CALLBACK_URL, "retrying", 1, "HTTP 503")
    logged.log.record(n, CALLBACK_URL, "retrying", 2, "fetch failed: ECONNREFUSED")

    logged.log.record(n, CALLBACK_URL, "delivered", 3, None)

    assert logged.entries() == {n.id: {"kind": CALLBACK, "url": CALLBACK_URL, "status": "delivered", "attempts": 3,
                                       "sequence": "42", "taskStatus": "completed"}}


def test_two_notifications_of_one_task_keep_an_entry_each(logged: Logged) -> None:
    stored_task(logged)
    callback, on_complete = notification(CALLBACK), notification(ON_COMPLETE)

    logged.log.record(callback, CALLBACK_URL, "delivered", 1, None)
    logged.log.record(on_complete, DONE_URL, "failed", 1, "HTTP 404")
    logged.log.record(callback, CALLBACK_URL, "delivered", 1, None)

    entries = logged.entries()
    assert entries is not None and set(entries) == {callback.id, on_complete.id}
    assert (entries[callback.id]["status"], entries[callback.id]["url"]) == ("delivered", CALLBACK_URL)
    assert entries[on_complete.id] == {"kind": ON_COMPLETE, "url": DONE_URL, "status": "failed", "attempts": 1,
                                       "sequence": "42", "taskStatus": "completed", "lastError": "HTTP 404"}


def test_last_error_is_there_only_when_given(logged: Logged) -> None:
    stored_task(logged)
    with_error, without, empty = notification(sequence="1"), notification(sequence="2"), notification(sequence="3")

    logged.log.record(with_error, CALLBACK_URL, "retrying", 1, "HTTP 500")
    logged.log.record(without, CALLBACK_URL, "delivered", 1, None)
    logged.log.record(empty, CALLBACK_URL, "delivered", 1, "")

    entries = logged.entries()
    assert entries is not None
    assert entries[with_error.id]["lastError"] == "HTTP 500"
    assert "lastError" not in entries[without.id]
    assert "lastError" not in entries[empty.id]


def test_recording_for_a_missing_task_does_nothing(logged: Logged) -> None:
    logged.log.record(notification(task_id="task-gone"), CALLBACK_URL, "delivered", 1, None)

    assert logged.tasks.get("task-gone") is None


def test_recording_leaves_the_tasks_version_and_fields_alone(logged: Logged) -> None:
    """A bookkeeping write: the stream's consumers must not see it as a change of the task."""
    before = stored_task(logged)

    logged.log.record(notification(), CALLBACK_URL, "delivered", 1, None)

    after = logged.tasks.get(TASK_ID)
    assert after is not None and after.notifications
    assert after.model_copy(update={"notifications": None}) == before
    assert after.version == before.version == 1


def test_other_tasks_are_untouched(logged: Logged) -> None:
    stored_task(logged)
    stored_task(logged, "task-2")

    logged.log.record(notification(), CALLBACK_URL, "delivered", 1, None)

    assert logged.entries("task-2") is None


def test_the_fake_lists_every_record_call() -> None:
    """What the unit tests read off the fake: each call's (url, status, attempts, error)."""
    log = InMemoryDeliveryLog()
    log.record(notification(task_id="no-such-task"), CALLBACK_URL, "retrying", 1, "HTTP 500")
    log.record(notification(task_id="no-such-task"), CALLBACK_URL, "failed", 2, None)

    assert log.entries == [(CALLBACK_URL, "retrying", 1, "HTTP 500"), (CALLBACK_URL, "failed", 2, None)]
