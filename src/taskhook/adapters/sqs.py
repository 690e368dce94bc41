"""SQS: task messages to the priority lanes, notifications to their FIFO queue (one message group
per task keeps each task's deliveries in order while other tasks' groups go on), and holding
received messages."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.dispatch import Dispatch
from taskhook.model.lanes import Lane
from taskhook.model.limits import SQS_MAX_DELAY, SQS_MAX_VISIBILITY
from taskhook.model.task import Task
from taskhook.notify.rules import Notification

K = TypeVar("K", bound=Hashable)  # what a batch's messages are grouped by: a lane, a queue ARN

log = logging.getLogger(__name__)

MAX_PUT_BACKS = 10_000  # what a message carries at most (the delay stopped growing long before)
# A create's message carries the task's row when its JSON is at most this long (most are under
# 2 KB); a longer one is read from the table. SQS bills a request per 64 KB of message.
CARRIED_ROW_LIMIT = 16_384  # characters of the whole message


def task_message(task_id: str, put_backs: int = 0, team: str | None = None, poll: str | None = None,
                 row: Task | None = None) -> str:
    """A task's message; a put-back one also carries how many times it was put back, and the team;
    a polling task's next poll carries its poll token (only the message with the stored one polls);
    a create's carries the row it writes (`task`, when short enough: CARRIED_ROW_LIMIT)."""
    message: dict[str, object] = {"taskId": task_id}
    if put_backs > 0:
        message["putBacks"] = min(put_backs, MAX_PUT_BACKS)
    if team:
        message["teamId"] = team
    if poll:
        message["poll"] = poll
    if row is not None:
        message["task"] = row.model_dump(mode="json", exclude_none=True)
    text = json.dumps(message)
    if row is not None and len(text) > CARRIED_ROW_LIMIT:
        del message["task"]
        text = json.dumps(message)
    return text


@dataclass(frozen=True)
class TaskMessage:
    """A task message as `task_message` wrote it, read from its body once (a create's body carries
    the row, so the executor does not parse it again for each field)."""

    task_id: str
    put_backs: int = 0  # how many times the task was put back (0 for a create's, the outbox's or sweep's)
    team: str | None = None  # the team a put-back names (None for others: the task's row says)
    poll: str | None = None  # a polling task's poll token (None for every other message)
    row: dict[str, Any] | None = None  # the row a create's message carries, as sent (see `carried`)

    @classmethod
    def parse(cls, body: str) -> TaskMessage:
        data = json.loads(body)
        put_backs, team, poll, row = data.get("putBacks", 0), data.get("teamId"), data.get("poll"), data.get("task")
        return cls(
            task_id=str(data["taskId"]),
            put_backs=min(put_backs, MAX_PUT_BACKS)
            if isinstance(put_backs, int) and not isinstance(put_backs, bool) and put_backs > 0 else 0,
            team=team if isinstance(team, str) and team else None,
            poll=poll if isinstance(poll, str) and poll else None,
            row=row if isinstance(row, dict) else None,
        )

    def carried(self) -> Task | None:
        """The row a create's message carries (None: none, or one this code cannot read)."""
        if self.row is None:
            return None
        try:
            return Task.model_validate(self.row)
        except ValueError:
            log.warning("a task message carries a row that does not validate; the row is read instead")
            return None


def task_id_of(body: str) -> str:
    return TaskMessage.parse(body).task_id


@dataclass(frozen=True)
class PutBack:
    """A task sent again to the queue its message came from, `delay_seconds` later."""

    queue_arn: str
    task_id: str
    put_backs: int
    delay_seconds: int
    team: str | None = None
    poll: str | None = None  # a polling task's next poll: its poll token


@dataclass(frozen=True)
class Hold:
    """A received message kept invisible for `seconds` from now: from `decided_at` (time.monotonic())
    when the hold was decided before it is sent."""

    queue_arn: str
    receipt_handle: str
    seconds: float
    decided_at: float | None = None

    def as_of(self, now: float) -> Hold:
        """The hold as sent at `now`: its seconds counted from when it was decided (at least 1)."""
        if self.decided_at is None:
            return self
        return Hold(self.queue_arn, self.receipt_handle, max(1.0, self.seconds - (now - self.decided_at)))


class SqsTaskQueue:
    def __init__(self, client: Any, lane_urls: dict[Lane, str]) -> None:
        self._client = client
        self._urls = lane_urls

    def send(self, dispatch: Dispatch) -> None:
        with busy_when_throttled():
            self._client.send_message(
                QueueUrl=self._urls[dispatch.lane],
                MessageBody=task_message(dispatch.task_id, row=dispatch.row),
                DelaySeconds=dispatch.delay_seconds,
            )

    def send_many(self, dispatches: list[Dispatch]) -> list[int]:
        """SendMessageBatch, ten to a call and one lane per call; returns the indexes not sent."""
        return send_batches(
            self._client, [d.lane for d in dispatches], lambda lane: self._urls[lane],
            lambda i: {"MessageBody": task_message(dispatches[i].task_id), "DelaySeconds": dispatches[i].delay_seconds},
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

    def put_back(self, put_backs: list[PutBack]) -> list[int]:
        """Send each task again to the queue its message came from, as a new message (whose
        receive count starts at zero), ten to a SendMessageBatch; the caller then deletes the
        current ones. Returns the indexes not sent (their messages must stay)."""
        def entry(i: int) -> dict[str, Any]:
            put_back = put_backs[i]
            return {"MessageBody": task_message(put_back.task_id, put_back.put_backs, put_back.team, put_back.poll),
                    "DelaySeconds": int(min(SQS_MAX_DELAY, max(0, put_back.delay_seconds)))}

        return send_batches(self._client, [p.queue_arn for p in put_backs], self._url_of_arn, entry)

    def hold(self, queue_arn: str, receipt_handle: str, seconds: float) -> None:
        with busy_when_throttled():
            self._client.change_message_visibility(
                QueueUrl=self._url_of_arn(queue_arn), ReceiptHandle=receipt_handle,
                VisibilityTimeout=_visibility(seconds),
            )

    def hold_many(self, holds: list[Hold]) -> list[int]:
        """Set the visibility of each message, ten to a ChangeMessageVisibilityBatch and one queue per
        call (each entry its own timeout); returns the indexes not changed."""
        now = time.monotonic()
        holds = [h.as_of(now) for h in holds]
        return batch_calls(self._client.change_message_visibility_batch, [h.queue_arn for h in holds],
                           self._url_of_arn,
                           lambda i: {"ReceiptHandle": holds[i].receipt_handle,
                                      "VisibilityTimeout": _visibility(holds[i].seconds)})

    def hold_all(self, queue_arn: str, receipt_handles: list[str], seconds: float) -> int:
        """Set the visibility of several messages of one queue, ten to a ChangeMessageVisibilityBatch;
        returns how many were changed (a message already deleted or expired is simply not)."""
        changed = 0
        for start in range(0, len(receipt_handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": _visibility(seconds)}
                       for i, handle in enumerate(receipt_handles[start:start + 10])]
            with busy_when_throttled():
                answer = self._client.change_message_visibility_batch(QueueUrl=self._url_of_arn(queue_arn),
                                                                      Entries=entries)
            changed += len(answer.get("Successful", []))
        return changed


def _visibility(seconds: float) -> int:
    return int(min(SQS_MAX_VISIBILITY, max(0, math.ceil(seconds))))


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
                     "MessageDeduplicationId": n.dedup_key}
                    for i, n in enumerate(batch)
                ])
            except Exception as exc:  # noqa: BLE001 - nothing from here on was queued
                log.warning("queueing notifications failed: %s", exc)
                return list(range(start, len(notifications)))
            if answer.get("Failed"):
                first = min(int(entry["Id"]) for entry in answer["Failed"])
                return list(range(first, len(notifications)))
        return []


def send_batches(client: Any, queues: Sequence[K], url_of: Callable[[K], str],
                 entry: Callable[[int], dict[str, Any]]) -> list[int]:
    """Send message i (`entry(i)`: its body and delay) to `queues[i]`, ten to a SendMessageBatch and
    one queue per call; returns the indexes not sent. A call that fails sends none of its ten."""
    return batch_calls(client.send_message_batch, queues, url_of, entry)


def batch_calls(call: Callable[..., Any], queues: Sequence[K], url_of: Callable[[K], str],
                entry: Callable[[int], dict[str, Any]]) -> list[int]:
    """One of SQS's batch calls for entry i (`entry(i)`) on `queues[i]`, ten to a call and one queue
    per call; returns the indexes that failed. A call that fails fails all of its ten."""
    by_queue: dict[K, list[int]] = {}
    for index, queue in enumerate(queues):
        by_queue.setdefault(queue, []).append(index)
    failed: list[int] = []
    for queue, indexes in by_queue.items():
        for start in range(0, len(indexes), 10):
            chunk = indexes[start:start + 10]
            try:
                answer = call(QueueUrl=url_of(queue), Entries=[{"Id": str(i), **entry(i)} for i in chunk])
            except Exception as exc:  # noqa: BLE001 - none of the chunk was done; the caller keeps those
                log.warning("%s of %d message(s) on %s failed: %s", getattr(call, "__name__", "batch call"),
                            len(chunk), queue, type(exc).__name__)
                failed += chunk
                continue
            failed += [int(e["Id"]) for e in answer.get("Failed") or []]
    return sorted(failed)


# SQS's approximate counts, as GET /v1/stats names them.
DEPTH_ATTRIBUTES = {
    "ApproximateNumberOfMessages": "visible",
    "ApproximateNumberOfMessagesNotVisible": "inFlight",
    "ApproximateNumberOfMessagesDelayed": "delayed",
}


class SqsQueueDepths:
    """ports.QueueDepths: one GetQueueAttributes per queue (the three lanes and the dead-letter queue)."""

    def __init__(self, client: Any, urls: dict[str, str]) -> None:
        self._client = client
        self._urls = urls

    def depths(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, url in self._urls.items():
            if not url:
                continue
            with busy_when_throttled():
                attributes = self._client.get_queue_attributes(
                    QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))["Attributes"]
            out[name] = {label: int(attributes.get(attr, 0)) for attr, label in DEPTH_ATTRIBUTES.items()}
        return out
