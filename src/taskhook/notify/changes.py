"""The stream consumer that queues the customers' notifications for a batch's status changes
(rules.py decides which; the FIFO queue keeps each task's in order)."""

from __future__ import annotations

from dataclasses import dataclass

from taskhook.model.change import Change
from taskhook.notify.rules import notifications_for
from taskhook.ports import NotificationQueue


@dataclass
class NotificationFanout:
    queue: NotificationQueue

    def consume(self, changes: list[Change]) -> list[int]:
        notified = [(i, n) for i, c in enumerate(changes) for n in notifications_for(c.old, c.new, c.sequence)]
        if not notified:
            return []
        return [notified[j][0] for j in self.queue.send([n for _, n in notified])]
