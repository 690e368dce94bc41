"""The NotificationQueue contract, run against the in-memory fake and against
SqsNotificationQueue on moto's FIFO queue.

The same test body must pass for both. The moto variant reads the queue back as the deliverer's
event source would: ReceiveMessage with each message's group id, deleting what it received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from taskhook.container import container
from taskhook.notify.rules import CALLBACK, ON_COMPLETE, Notification
from tests.support.fakes import InMemoryNotificationQueue

from .conftest import Provisioned


@dataclass
class FakeNotifications:
    queue: InMemoryNotificationQueue

    def received(self) -> list[tuple[str, Notification]]:
        """(message group, notification) of everything queued, in queue order."""
        return [(n.task_id, n) for n in self.queue.queued]

    def make_unavailable(self) -> None:
        self.queue.unavailable = True


@dataclass
class SqsNotifications:
    queue: Any
    aws: Provisioned

    def received(self) -> list[tuple[str, Notification]]:
        """Receive (and delete) every message, with its MessageGroupId, until the queue is empty."""
        sqs, url, out = self.aws.client("sqs"), self.aws.env["NOTIFICATIONS_QUEUE_URL"], []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                              WaitTimeSeconds=0, MessageSystemAttributeNames=["MessageGroupId"],
                                              ).get("Messages", []):
            for message in messages:
                out.append((message["Attributes"]["MessageGroupId"], Notification.from_message(message["Body"])))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out

    def make_unavailable(self) -> None:
        self.aws.client("sqs").delete_queue(QueueUrl=self.aws.env["NOTIFICATIONS_QUEUE_URL"])


Notifications = FakeNotifications | SqsNotifications


@pytest.fixture(params=["memory", "sqs"])
def notifications(request: pytest.FixtureRequest) -> Notifications:
    if request.param == "memory":
        return FakeNotifications(InMemoryNotificationQueue())
    aws = request.getfixturevalue("aws")
    return SqsNotifications(container().notification_queue, aws)


def notification(task_id: str, sequence: int, kind: str = CALLBACK, **body: Any) -> Notification:
    suffix = "cb" if kind == CALLBACK else "oc"
    return Notification(f"ntf_{task_id}_{sequence}_{suffix}", task_id, "team-a", kind, f"https://x.test/{kind}",
                        "processing", str(sequence), body={"task_id": task_id, **body})


def by_group(received: list[tuple[str, Notification]]) -> dict[str, list[Notification]]:
    groups: dict[str, list[Notification]] = {}
    for group, n in received:
        groups.setdefault(group, []).append(n)
    return groups


def test_each_tasks_notifications_are_queued_in_order_in_the_tasks_group(notifications: Notifications) -> None:
    """Three tasks' notifications interleaved, 21 in all: three batches of SendMessageBatch."""
    sent = [notification(task_id, sequence)
            for sequence in range(1, 8) for task_id in ("t-a", "t-b", "t-c")]

    assert notifications.queue.send(sent) == []

    received = notifications.received()
    assert sorted(n.id for _, n in received) == sorted(n.id for n in sent)
    assert all(group == n.task_id for group, n in received)
    assert by_group(received) == {task_id: [n for n in sent if n.task_id == task_id]
                                  for task_id in ("t-a", "t-b", "t-c")}


def test_a_notification_round_trips_whole(notifications: Notifications) -> None:
    sent = Notification("ntf_t-1_5_oc", "t-1", "team-a", ON_COMPLETE, "https://x.test/done?a=1", "completed", "5",
                        body={"task": {"id": "t-1", "result": {"statusCode": 200}}, "sequence": "5"},
                        output_key="outputs/t-1/report.csv")

    assert notifications.queue.send([sent]) == []

    assert notifications.received() == [("t-1", sent)]


def test_sending_the_same_notification_again_queues_it_once(notifications: Notifications) -> None:
    """A stream record Lambda retries produces the same notifications again."""
    first, second = notification("t-1", 1), notification("t-1", 2)

    assert notifications.queue.send([first, second]) == []
    assert notifications.queue.send([first, second]) == []
    assert notifications.queue.send([second, notification("t-1", 3), second]) == []

    assert [n.id for _, n in notifications.received()] == ["ntf_t-1_1_cb", "ntf_t-1_2_cb", "ntf_t-1_3_cb"]


def test_a_failed_batch_stops_the_send_and_every_index_from_it_is_returned(notifications: Notifications) -> None:
    """The second batch of ten holds a notification too big for SQS (over 1 MiB): neither it nor
    the third batch is queued, so none of a task's later notifications overtakes it."""
    sent = [notification(f"t-{i % 4}", i) for i in range(25)]
    sent[13] = notification("t-1", 13, blob="x" * 1_100_000)

    assert notifications.queue.send(sent) == list(range(10, 25))

    assert [n.id for _, n in notifications.received()] == [n.id for n in sent[:10]]


def test_an_unavailable_queue_returns_every_index(notifications: Notifications) -> None:
    notifications.make_unavailable()

    assert notifications.queue.send([notification("t-1", i) for i in range(12)]) == list(range(12))


def test_sending_nothing_queues_nothing(notifications: Notifications) -> None:
    assert notifications.queue.send([]) == []
    assert notifications.received() == []
