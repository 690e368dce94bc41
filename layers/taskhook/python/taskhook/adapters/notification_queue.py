"""SQS FIFO queue of notifications: one message group per task keeps each task's deliveries in
order, while other tasks' groups go on (a slow customer endpoint holds only its own task)."""

from __future__ import annotations

from typing import Any

from ..notifications import Notification


class SqsNotificationQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self._url = url

    def send(self, notifications: list[Notification]) -> None:
        for start in range(0, len(notifications), 10):
            batch = notifications[start:start + 10]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(i), "MessageBody": n.to_message(), "MessageGroupId": n.task_id,
                 # a stream record retried by Lambda must not notify twice
                 "MessageDeduplicationId": n.id[-128:]}
                for i, n in enumerate(batch)
            ])
            if answer.get("Failed"):
                raise RuntimeError(f"{len(answer['Failed'])} notifications not queued: {answer['Failed'][0]}")
