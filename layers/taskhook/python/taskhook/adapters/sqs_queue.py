"""SQS: sending task messages to the priority lanes, and holding received messages."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

from ..lanes import Lane
from ..scheduling import Dispatch

MAX_VISIBILITY = 12 * 3600  # SQS's ceiling for a message's visibility timeout


def task_message(task_id: str) -> str:
    return json.dumps({"taskId": task_id})


def task_id_of(body: str) -> str:
    return str(json.loads(body)["taskId"])


class SqsTaskQueue:
    def __init__(self, client: Any, lane_urls: dict[Lane, str]) -> None:
        self._client = client
        self._urls = lane_urls

    def send(self, dispatch: Dispatch) -> None:
        self._client.send_message(
            QueueUrl=self._urls[dispatch.lane],
            MessageBody=task_message(dispatch.task_id),
            DelaySeconds=dispatch.delay_seconds,
        )


class SqsMessages:
    """Visibility changes for messages Lambda (or the local runner) handed us."""

    def __init__(self, client: Any, known_urls: tuple[str, ...] = ()) -> None:
        self._client = client
        self._known = {url.rstrip("/").rsplit("/", 1)[-1]: url for url in known_urls if url}
        self._url_of_arn = lru_cache(maxsize=64)(self._lookup_url)

    def _lookup_url(self, queue_arn: str) -> str:
        _, _, _, _, account, name = queue_arn.split(":", 5)
        if name in self._known:  # our own lanes: no GetQueueUrl call (nor IAM permission) needed
            return self._known[name]
        return str(self._client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])

    def hold(self, queue_arn: str, receipt_handle: str, seconds: float) -> None:
        self._client.change_message_visibility(
            QueueUrl=self._url_of_arn(queue_arn),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=int(min(MAX_VISIBILITY, max(0, math.ceil(seconds)))),
        )
