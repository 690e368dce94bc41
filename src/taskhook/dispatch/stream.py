"""What the stream dispatcher does with one batch of the Tasks table's stream, in a few calls per batch.

For the batch's changes, in stream order, it
- dispatches the newly inserted tasks to their SQS lanes (`SendMessageBatch`, ten to a call);
- queues the customers' notifications for status changes (the FIFO queue, ten to a call);
- pushes status, progress and message changes to WebSocket subscribers (one subscriber lookup
  per team in the batch).
Doing this per batch rather than per record is what lets one stream reader keep up with a burst:
per record it cost one SendMessage and two to three Queries for every change.

A change whose effect failed is reported by its sequence number; Lambda (or the local runner)
retries the batch from the earliest one reported and never skips a record. Repeating the effects
of the changes after it is harmless: a task's second message finds it claimed or finished, a
notification's deduplication id (the sequence number) keeps it from being queued twice, and a
repeated live message carries the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from taskhook.dispatch.sweep import Dispatch, dispatch_for_new_task
from taskhook.model.clock import utcnow
from taskhook.model.task import Task
from taskhook.notify.live import LiveFeed, live_change
from taskhook.notify.rules import Notification, notifications_for


@dataclass(frozen=True)
class Change:
    """One stream record of a task row: `old` is None for an insert."""

    sequence: str
    old: Task | None
    new: Task
    inserted: bool = False


class DispatchQueue(Protocol):
    def send_many(self, dispatches: list[Dispatch]) -> list[int]:
        """Send them; return the indexes that were not sent."""


class NotificationQueue(Protocol):
    def send(self, notifications: list[Notification]) -> list[int]:
        """Queue them in order; return the indexes that were not queued."""


@dataclass
class ChangeFeed:
    tasks: DispatchQueue
    notifications: NotificationQueue
    live: LiveFeed | None = None
    clock: Callable[[], datetime] = utcnow

    def handle(self, changes: list[Change]) -> list[str]:
        """Carry out the batch; return the sequence numbers of the changes to retry (empty: all done)."""
        failed: set[int] = set()
        now = self.clock()

        dispatched = [(i, d) for i, c in enumerate(changes) if c.inserted
                      for d in [dispatch_for_new_task(c.new, now)] if d is not None]
        failed.update(dispatched[j][0] for j in self.tasks.send_many([d for _, d in dispatched]))

        notified = [(i, n) for i, c in enumerate(changes) for n in notifications_for(c.old, c.new, c.sequence)]
        if notified:
            failed.update(notified[j][0] for j in self.notifications.send([n for _, n in notified]))

        if self.live is not None:
            watched = [i for i, c in enumerate(changes) if live_change(c.old, c.new)]
            if watched:
                _, push_failures = self.live.publish_many([changes[i].new for i in watched])
                failed.update(watched[j] for j, _ in push_failures)

        return [changes[i].sequence for i in sorted(failed)]
