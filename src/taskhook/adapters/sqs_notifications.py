"""SQS FIFO queue of notifications: one message group per task keeps each task's deliveries in
order, while other tasks' groups go on (a slow customer endpoint holds only its own task)."""

from __future__ import annotations

import logging
from typing import Any

from taskhook.notify.rules import Notification

log = logging.getLogger(__name__)


class SqsNotificationQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self._url = url

    def send(self, notifications: list[Notification]) -> list[int]:
        """SendMessageBatch, ten to a call, in order; returns the indexes not queued (a chunk
        after a failed one is not sent, so one task's notifications never overtake each other)."""
        for start in range(0, len(notifications), 10):
            batch = notifications[start:start + 10]
            try:
                answer = self._client.send_message_batch(QueueUrl=self._url, Entries=[
                    {"Id": str(start + i), "MessageBody": n.to_message(), "MessageGroupId": n.task_id,
                     # a stream record retried by Lambda must not notify twice
                     "MessageDeduplicationId": n.id[-128:]}
                    for i, n in enumerate(batch)
                ])
            except Exception as exc:  # noqa: BLE001 - nothing from here on was queued
                log.warning("queueing notifications failed: %s", exc)
                return list(range(start, len(notifications)))
            if answer.get("Failed"):
                first = min(int(entry["Id"]) for entry in answer["Failed"])
                return list(range(first, len(notifications)))
        return []
