"""NotificationResender over the fakes: a failed delivery is queued again under a deduplication key
of its own (SQS's FIFO queue drops a repeat of the same key for five minutes, and moto does not
model that after a delete: the fake queue deduplicates for ever), once, with the same id."""

from __future__ import annotations

import pytest

from taskhook.model.errors import Busy, Conflict
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.notify.resend import NotificationResender
from taskhook.notify.rules import notifications_for
from tests.support.fakes import InMemoryDeliveryLog, InMemoryNotificationQueue, InMemoryTaskRepository


def failed_delivery(queue: InMemoryNotificationQueue) -> tuple[InMemoryDeliveryLog, str]:
    repository = InMemoryTaskRepository()
    task = Task(id="t1", teamId="team-a", status=TaskStatus.COMPLETED, createdAt="2026-01-01T00:00:00.000Z",
                completedAt="2026-01-01T00:00:01.000Z", targetUrl="https://x.test/a",
                onCompleteUrl="https://x.test/done", callbackUrl="https://x.test/cb?custom=1")
    repository.put_new(task)
    log = InMemoryDeliveryLog(repository)
    sent = notifications_for(None, task, "42")
    queue.send(sent)
    for n in sent:
        url = n.url + ("&task_id=t1&status=completed" if n.kind == "callback" else "")
        log.record(n, url, "failed", 6, "HTTP 500")
    return log, sent[0].id


def test_a_resend_is_queued_under_a_new_deduplication_key_with_the_same_id() -> None:
    queue = InMemoryNotificationQueue()
    log, notification_id = failed_delivery(queue)
    resender = NotificationResender(log.repository, log, queue)

    view = resender.resend("team-a", "t1", notification_id)

    assert (view["id"], view["status"], view["kind"]) == (notification_id, "queued", "callback")
    original, resent = queue.of_task("t1")[0], queue.of_task("t1")[-1]
    assert len(queue.of_task("t1")) == 3 and resent.id == original.id and resent.dedup_key != original.dedup_key
    assert resent.url == "https://x.test/cb?custom=1"  # the client's URL: the deliverer adds the parameters
    with pytest.raises(Conflict, match="Only a failed notification can be resent"):
        resender.resend("team-a", "t1", notification_id)
    assert len(queue.of_task("t1")) == 3


def test_a_resend_not_queued_leaves_the_delivery_failed() -> None:
    queue = InMemoryNotificationQueue()
    log, notification_id = failed_delivery(queue)
    queue.unavailable = True

    with pytest.raises(Busy):
        NotificationResender(log.repository, log, queue).resend("team-a", "t1", notification_id)

    task = log.repository.get("t1")
    assert task is not None and task.notifications is not None
    assert task.notifications[notification_id]["status"] == "failed"
