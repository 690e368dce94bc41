"""The task lanes' contract (DispatchQueue.send_many and TaskQueue.send), run against the
in-memory fake and against SqsTaskQueue on moto's SQS.

The same test body must pass for both. What a lane holds is read back the way a consumer sees
it: on moto with ReceiveMessage (a delayed message is not received until its delay is over, so
the content checks send with delay 0) and the queue's delayed-message count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from taskhook.adapters.sqs import task_id_of
from taskhook.container import container
from taskhook.model.dispatch import Dispatch
from taskhook.model.lanes import LANES_BY_URGENCY, Lane
from tests.support.fakes import InMemoryTaskQueue

from .conftest import Provisioned

LANE_URL_ENV = {Lane.HIGH: "QUEUE_HIGH_URL", Lane.NORMAL: "QUEUE_NORMAL_URL", Lane.LOW: "QUEUE_LOW_URL"}


@dataclass
class FakeLanes:
    queue: InMemoryTaskQueue

    def receive(self, lane: Lane) -> list[str]:
        """The task ids a consumer of the lane can receive now: those sent without a delay."""
        return sorted(d.task_id for d in self.queue.on_lane(lane) if d.delay_seconds == 0)

    def delayed(self, lane: Lane) -> int:
        return sum(1 for d in self.queue.on_lane(lane) if d.delay_seconds > 0)

    def make_unavailable(self, lane: Lane) -> None:
        self.queue.broken_lanes.add(lane)


@dataclass
class SqsLanes:
    queue: Any
    aws: Provisioned

    def _url(self, lane: Lane) -> str:
        return self.aws.env[LANE_URL_ENV[lane]]

    def receive(self, lane: Lane) -> list[str]:
        """Receive (and delete) every message the lane lets a consumer have now; their task ids."""
        sqs, url, ids = self.aws.client("sqs"), self._url(lane), []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                              WaitTimeSeconds=0).get("Messages", []):
            for message in messages:
                ids.append(task_id_of(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(ids)

    def delayed(self, lane: Lane) -> int:
        attributes = self.aws.client("sqs").get_queue_attributes(
            QueueUrl=self._url(lane), AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"])

    def make_unavailable(self, lane: Lane) -> None:
        self.aws.client("sqs").delete_queue(QueueUrl=self._url(lane))


Lanes = FakeLanes | SqsLanes


@pytest.fixture(params=["memory", "sqs"])
def lanes(request: pytest.FixtureRequest) -> Lanes:
    if request.param == "memory":
        return FakeLanes(InMemoryTaskQueue())
    aws = request.getfixturevalue("aws")
    return SqsLanes(container().task_queue, aws)


def everything(lanes: Lanes) -> dict[Lane, list[str]]:
    return {lane: lanes.receive(lane) for lane in LANES_BY_URGENCY}


def test_send_puts_the_task_on_its_lane(lanes: Lanes) -> None:
    for lane in LANES_BY_URGENCY:
        lanes.queue.send(Dispatch(f"t-{lane.value}", lane))

    assert everything(lanes) == {Lane.HIGH: ["t-high"], Lane.NORMAL: ["t-normal"], Lane.LOW: ["t-low"]}


def test_send_many_puts_each_task_on_its_lane(lanes: Lanes) -> None:
    dispatches = [Dispatch("a", Lane.LOW), Dispatch("b", Lane.HIGH), Dispatch("c", Lane.LOW),
                  Dispatch("d", Lane.NORMAL), Dispatch("e", Lane.HIGH)]

    assert lanes.queue.send_many(dispatches) == []

    assert everything(lanes) == {Lane.HIGH: ["b", "e"], Lane.NORMAL: ["d"], Lane.LOW: ["a", "c"]}


def test_send_many_of_nothing_sends_nothing(lanes: Lanes) -> None:
    assert lanes.queue.send_many([]) == []
    assert everything(lanes) == {Lane.HIGH: [], Lane.NORMAL: [], Lane.LOW: []}


def test_send_many_of_more_than_ten_sends_them_all(lanes: Lanes) -> None:
    """SendMessageBatch takes ten entries: 23 on one lane and 12 on another are four calls."""
    normal = [Dispatch(f"n-{i:02}", Lane.NORMAL) for i in range(23)]
    low = [Dispatch(f"l-{i:02}", Lane.LOW) for i in range(12)]
    mixed = [d for pair in zip(normal, low, strict=False) for d in pair] + normal[len(low):]

    assert lanes.queue.send_many(mixed) == []

    received = everything(lanes)
    assert received[Lane.NORMAL] == [d.task_id for d in normal]
    assert received[Lane.LOW] == [d.task_id for d in low]
    assert received[Lane.HIGH] == []


def test_a_delayed_task_is_on_its_lane_but_not_received_at_once(lanes: Lanes) -> None:
    lanes.queue.send(Dispatch("later", Lane.HIGH, 30))
    assert lanes.queue.send_many([Dispatch("much-later", Lane.LOW, 900), Dispatch("now", Lane.LOW, 0)]) == []

    assert lanes.delayed(Lane.HIGH) == 1
    assert lanes.delayed(Lane.LOW) == 1
    assert lanes.delayed(Lane.NORMAL) == 0
    assert everything(lanes) == {Lane.HIGH: [], Lane.NORMAL: [], Lane.LOW: ["now"]}


def test_send_many_returns_the_indexes_of_an_unavailable_lane_and_sends_the_rest(lanes: Lanes) -> None:
    lanes.make_unavailable(Lane.LOW)
    dispatches = [Dispatch(f"t-{i:02}", lane) for i, lane in enumerate([Lane.LOW, Lane.HIGH, Lane.NORMAL] * 5)]
    dispatches += [Dispatch(f"x-{i:02}", Lane.LOW) for i in range(8)]  # 13 for the low lane: two calls

    failed = lanes.queue.send_many(dispatches)

    assert failed == [i for i, d in enumerate(dispatches) if d.lane is Lane.LOW]
    assert lanes.receive(Lane.HIGH) == sorted(d.task_id for d in dispatches if d.lane is Lane.HIGH)
    assert lanes.receive(Lane.NORMAL) == sorted(d.task_id for d in dispatches if d.lane is Lane.NORMAL)


def test_send_many_returns_each_entry_sqs_refuses_and_sends_the_others(lanes: Lanes) -> None:
    """SQS checks each batch entry: one with a delay over 900 s fails alone."""
    dispatches = [Dispatch("ok-1", Lane.NORMAL), Dispatch("too-late", Lane.NORMAL, 901), Dispatch("ok-2", Lane.NORMAL),
                  Dispatch("ok-3", Lane.HIGH)]

    assert lanes.queue.send_many(dispatches) == [1]

    assert everything(lanes) == {Lane.HIGH: ["ok-3"], Lane.NORMAL: ["ok-1", "ok-2"], Lane.LOW: []}


def test_send_to_an_unavailable_lane_raises_and_the_other_lanes_go_on(lanes: Lanes) -> None:
    lanes.make_unavailable(Lane.NORMAL)

    with pytest.raises(Exception):  # noqa: B017 - the port names no error; the caller must not think it sent
        lanes.queue.send(Dispatch("lost", Lane.NORMAL))
    lanes.queue.send(Dispatch("kept", Lane.HIGH))

    assert lanes.receive(Lane.HIGH) == ["kept"]


def test_the_fake_keeps_each_dispatch_with_its_lane_and_delay() -> None:
    """What the unit tests read off the fake: the Dispatch values themselves, in order."""
    queue = InMemoryTaskQueue()
    queue.send(Dispatch("a", Lane.LOW, 30))
    queue.send_many([Dispatch("b", Lane.HIGH), Dispatch("c", Lane.LOW, 5)])

    assert queue.sent == [Dispatch("a", Lane.LOW, 30), Dispatch("b", Lane.HIGH, 0), Dispatch("c", Lane.LOW, 5)]
    assert queue.on_lane(Lane.LOW) == [Dispatch("a", Lane.LOW, 30), Dispatch("c", Lane.LOW, 5)]
    assert queue.calls == [[Dispatch("b", Lane.HIGH), Dispatch("c", Lane.LOW, 5)]]


def test_sqs_holds_a_message_back_for_the_dispatchs_own_delay(aws: Provisioned) -> None:
    """The fake keeps the delay itself (above); on SQS a 1 s delay is over about a second later,
    while a 900 s one is not."""
    container().task_queue.send(Dispatch("soon", Lane.NORMAL, 1))
    container().task_queue.send(Dispatch("later", Lane.NORMAL, 900))
    sqs, url = aws.client("sqs"), aws.env["QUEUE_NORMAL_URL"]

    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=3).get("Messages", [])

    assert [task_id_of(m["Body"]) for m in messages] == ["soon"]
