"""Resending a notification whose delivery failed (gave up after its attempts):
`POST /v1/tasks/{id}/notifications/{notification_id}/resend`.

The delivery goes the normal way: the notification made again from the task (notify/rules.py
`rebuilt`), queued on the notifications FIFO queue (a deduplication key of its own, so SQS does not
take it for a repeat of the first send; the `webhook-id` stays the notification's id, which is what
a receiver de-duplicates on), then signed, posted, retried and logged by the deliverer. The log
entry moves failed -> queued in one conditional write first, so two resends at once queue it once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from taskhook.model.errors import AccessDenied, Busy, NotFound
from taskhook.model.task import notification_view
from taskhook.notify.rules import rebuilt
from taskhook.ports import DeliveryLog, NotificationQueue, TaskRepository

NOT_FOUND = "Notification not found"


@dataclass
class NotificationResender:
    repository: TaskRepository
    log: DeliveryLog
    queue: NotificationQueue

    def resend(self, team_id: str, task_id: str, notification_id: str) -> dict[str, Any]:
        """The delivery's entry as the task shows it, now `queued`. 404 for an unknown task or
        delivery, 403 for another team's task, 409 unless the delivery failed, 503 if not queued."""
        task = self.repository.get(task_id)
        if task is None:
            raise NotFound()
        if task.teamId != team_id:
            raise AccessDenied()
        notification = rebuilt(task, notification_id)
        if notification is None:
            raise NotFound(NOT_FOUND)
        entry = (task.notifications or {})[notification_id]
        self.log.requeue_failed(task_id, notification_id)  # Conflict (409) unless it is failed
        resend = replace(notification, resend=f"#resend-{uuid.uuid4().hex[:12]}")
        if self.queue.send([resend]):
            self.log.record(notification, str(entry.get("url", notification.url)), "failed",
                            int(entry.get("attempts", 0)), "resend not queued")
            raise Busy("The notification could not be queued; try again")
        [view] = notification_view({notification_id: {**entry, "status": "queued"}})
        return view
