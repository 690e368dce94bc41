"""A new task's lane message is sent by the create itself, before its row is written
(intake/new_tasks.py); the stream's outbox is the repair path for a row whose send failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskhook.dispatch.outbox import TaskOutbox
from taskhook.intake.new_tasks import store_new
from taskhook.model.change import Change
from taskhook.model.clock import iso
from taskhook.model.dispatch import Dispatch
from taskhook.model.lanes import Lane
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskQueue, InMemoryTaskRepository

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def new_task(status: TaskStatus = TaskStatus.PENDING, delay: float | None = None, priority: int = 5) -> Task:
    return Task(id=f"t-{status.value}-{delay}", teamId="team-a", status=status, targetUrl="https://x.test/",
                priority=priority, retryCount=0, createdAt=iso(NOW), updatedAt=iso(NOW),
                delayUntil=iso(NOW + timedelta(seconds=delay)) if delay is not None else None)


class Ordered(InMemoryTaskRepository):
    """Records whether the lane already held the task's message when its row was written."""

    def __init__(self, queue: InMemoryTaskQueue) -> None:
        super().__init__()
        self.queue, self.sent_before_row = queue, False

    def put_new(self, task: Task) -> None:
        self.sent_before_row = any(d.task_id == task.id for d in self.queue.sent)
        super().put_new(task)


def test_a_task_due_now_is_sent_before_its_row_is_written_and_marked_sent() -> None:
    queue = InMemoryTaskQueue()
    repository = Ordered(queue)

    stored = store_new(repository, queue, new_task(priority=9), NOW)

    assert queue.sent == [Dispatch(stored.id, Lane.HIGH, 0, row=stored)]  # the message carries the row
    assert repository.sent_before_row
    assert stored.sentAtCreate is True
    assert repository.get(stored.id) == stored


def test_a_task_due_within_fifteen_minutes_goes_with_its_delay() -> None:
    queue = InMemoryTaskQueue()
    stored = store_new(InMemoryTaskRepository(), queue, new_task(TaskStatus.DELAYED, 120.4), NOW)
    assert queue.sent == [Dispatch(stored.id, Lane.NORMAL, 120, row=stored)]
    assert stored.sentAtCreate is True


def test_a_task_due_later_is_left_to_the_sweep() -> None:
    queue = InMemoryTaskQueue()
    stored = store_new(InMemoryTaskRepository(), queue, new_task(TaskStatus.DELAYED, 3600), NOW)
    assert queue.sent == []
    assert stored.sentAtCreate is None


def test_a_failed_send_still_stores_the_task_unmarked_for_the_outbox() -> None:
    queue = InMemoryTaskQueue(broken_lanes=[Lane.NORMAL])
    repository = InMemoryTaskRepository()

    stored = store_new(repository, queue, new_task(), NOW)

    assert queue.sent == []
    assert stored.sentAtCreate is None
    assert repository.get(stored.id) is not None
    outbox_queue = InMemoryTaskQueue()
    assert TaskOutbox(outbox_queue, lambda: NOW).consume([Change("1", None, stored, inserted=True)]) == []
    assert outbox_queue.sent == [Dispatch(stored.id, Lane.NORMAL, 0)]


def test_a_row_write_that_fails_after_the_send_raises_and_leaves_only_the_message() -> None:
    queue = InMemoryTaskQueue()
    repository = InMemoryTaskRepository()
    task = new_task()
    repository.put_new(task)  # the id taken: put_new fails

    with pytest.raises(Exception, match="already exists"):
        store_new(repository, queue, task, NOW)
    assert [d.task_id for d in queue.sent] == [task.id]  # the executor drops it once its row is not there


def test_the_outbox_sends_only_inserted_rows_not_sent_at_create() -> None:
    sent = new_task().model_copy(update={"id": "sent", "sentAtCreate": True})
    unsent = new_task().model_copy(update={"id": "unsent"})
    queue = InMemoryTaskQueue()

    assert TaskOutbox(queue, lambda: NOW).consume([Change("1", None, sent, inserted=True),
                                                   Change("2", None, unsent, inserted=True)]) == []

    assert queue.sent == [Dispatch("unsent", Lane.NORMAL, 0)]


def test_without_a_queue_the_row_alone_is_written() -> None:
    repository = InMemoryTaskRepository()
    stored = store_new(repository, None, new_task(), NOW)
    assert stored.sentAtCreate is None and repository.get(stored.id) is not None
