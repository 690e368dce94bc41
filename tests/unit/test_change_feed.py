"""The stream dispatcher's batch: dispatches, notifications and live pushes in a few calls, failures by sequence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from taskhook.dispatch.outbox import TaskOutbox
from taskhook.dispatch.stream import ChangeFeed
from taskhook.model.change import Change
from taskhook.model.lanes import Lane
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.notify.changes import NotificationFanout
from taskhook.notify.live import LiveFeed, Subscription
from tests.support.fakes import (
    InMemoryConnectionStore,
    InMemoryNotificationQueue,
    InMemoryPusher,
    InMemoryTaskQueue,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def task(task_id: str, status: str = "pending", **fields: Any) -> Task:
    return Task(id=task_id, teamId="acme", status=TaskStatus(status), createdAt="2026-01-01T12:00:00.000Z",
                targetUrl="https://x.test/hook", **fields)


def feed(queue: InMemoryTaskQueue, connections: InMemoryConnectionStore | None = None,
         ) -> tuple[ChangeFeed, InMemoryNotificationQueue, InMemoryPusher]:
    notifications, pusher = InMemoryNotificationQueue(), InMemoryPusher()
    live = LiveFeed(connections, pusher) if connections is not None else None
    consumers = [TaskOutbox(queue, clock=lambda: NOW), NotificationFanout(notifications), *([live] if live else [])]
    return ChangeFeed(consumers), notifications, pusher


def test_a_batch_of_inserts_is_dispatched_in_one_call_with_its_lanes_and_delays() -> None:
    queue = InMemoryTaskQueue()
    changes = [Change(str(i), None, task(f"t{i}", priority=9 if i == 2 else 5), inserted=True) for i in range(5)]
    changes.append(Change("5", None, task("late", "delayed", delayUntil="2026-01-01T12:00:30.000Z"), inserted=True))
    changes.append(Change("6", changes[0].new, changes[0].new.model_copy(update={"status": TaskStatus.PROCESSING})))
    the_feed, _, _ = feed(queue)
    assert the_feed.handle(changes) == []
    assert len(queue.calls) == 1
    sent = queue.calls[0]
    assert [d.task_id for d in sent] == ["t0", "t1", "t2", "t3", "t4", "late"]
    assert sent[2].lane is Lane.HIGH and sent[0].lane is Lane.NORMAL
    assert 29 <= sent[5].delay_seconds <= 30


def test_a_dispatch_that_failed_is_retried_by_its_sequence_and_nothing_before_it() -> None:
    queue = InMemoryTaskQueue(broken_lanes={Lane.HIGH})  # t3 alone goes to the high lane
    changes = [Change(str(10 + i), None, task(f"t{i}", priority=9 if i == 3 else 5), inserted=True) for i in range(5)]
    the_feed, _, _ = feed(queue)
    assert the_feed.handle(changes) == ["13"]


def test_notifications_of_the_whole_batch_go_in_one_call_in_stream_order() -> None:
    hooks = {"callbackUrl": "https://x.test/cb", "onCompleteUrl": "https://x.test/done"}
    first = task("t1", **hooks)
    running = first.model_copy(update={"status": TaskStatus.PROCESSING, "version": 2, "statusVersion": 2})
    done = running.model_copy(update={"status": TaskStatus.COMPLETED, "version": 3, "statusVersion": 3})
    the_feed, notifications, _ = feed(InMemoryTaskQueue())
    assert the_feed.handle([Change("1", None, first, inserted=True), Change("2", first, running),
                            Change("3", running, done)]) == []
    assert len(notifications.calls) == 1
    assert [(n.sequence, n.status, n.kind) for n in notifications.calls[0]] == [
        ("1", "pending", "callback"), ("2", "processing", "callback"), ("3", "completed", "callback"),
        ("3", "completed", "onComplete")]


def test_live_subscribers_are_looked_up_once_for_the_batch() -> None:
    connections = InMemoryConnectionStore()
    connections.add(Subscription("c1", "acme", "team#acme"))
    base = task("t1", "processing", progress=0)
    changes = [Change(str(p), base.model_copy(update={"progress": p - 10}), base.model_copy(update={"progress": p}))
               for p in (10, 20, 30)]
    changes.append(Change("99", changes[-1].new, changes[-1].new.model_copy(update={"dispatchedAt": "x"})))
    the_feed, _, pusher = feed(InMemoryTaskQueue(), connections)
    assert the_feed.handle(changes) == []
    assert connections.lookups == ["acme"]
    # the bookkeeping write pushed nothing
    assert [(c, p["status"]) for c, p in pusher.sent] == [("c1", "processing")] * 3
