"""A task over its team's share, through the lane executor's entry point on moto: it is put back as a
new, delayed message on its own lane (the record reported a success, so Lambda deletes the old
message): never called, never claimed, and its receive count starts again, so waiting for a share
never moves a healthy task towards the dead-letter queue. If the put-back cannot be sent, the
message stays for SQS to redeliver."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import app as lambdas
from taskhook.adapters.sqs import PutBack
from taskhook.container import container
from taskhook.model.plan import TeamPlan
from taskhook.run.shares import share_key
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import (
    RECEIVE_VISIBILITY,
    TEAM,
    api_key,
    context,
    create_task,
    dispatched_at_create,
    receive,
    row,
    sqs_event,
)

NORMAL = "QUEUE_NORMAL_URL"


def _attributes(aws: Provisioned) -> dict[str, int]:
    answer = aws.client("sqs").get_queue_attributes(QueueUrl=aws.env[NORMAL], AttributeNames=["All"])["Attributes"]
    return {k: int(v) for k, v in answer.items() if k.startswith("ApproximateNumberOfMessages")}


def test_a_task_over_its_share_is_put_back_as_a_new_message(aws: Provisioned, target: TargetServer) -> None:
    container().plan_store.save(TEAM, TeamPlan(concurrency=1))
    assert container().lease_store.acquire(share_key(TEAM), "elsewhere", 1, time.time() + 600)
    task = create_task(api_key(), targetUrl=target.url("/later", [200]), priority=5)
    messages = dispatched_at_create(aws, task["id"], "normal")
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages)

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}  # a success: Lambda deletes this message
    aws.client("sqs").delete_message(QueueUrl=aws.env[NORMAL], ReceiptHandle=messages[0]["ReceiptHandle"])
    assert target.calls("/later") == []
    assert row(aws, task["id"])["status"] == {"S": "pending"} and "claimToken" not in row(aws, task["id"])
    assert _attributes(aws)["ApproximateNumberOfMessagesDelayed"] == 1  # the new message, delayed

    time.sleep(2.2)  # the first put-back's delay is one or two seconds
    [again] = receive(aws, aws.env[NORMAL])
    assert json.loads(again["Body"]) == {"taskId": task["id"], "putBacks": 1, "teamId": TEAM}
    assert again["Attributes"]["ApproximateReceiveCount"] == "1"  # a new message: its count starts again

    container().lease_store.release(share_key(TEAM), "elsewhere")
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], [again]),
                                    context("execute_normal", 330))
    assert answer == {"batchItemFailures": []}
    assert row(aws, task["id"])["status"] == {"S": "completed"}
    assert len(target.calls("/later")) == 1
    assert container().lease_store.held(share_key(TEAM)) == {}  # the run gave its slot back


def test_a_put_back_that_cannot_be_sent_leaves_the_message_for_redelivery(
        aws: Provisioned, target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    container().plan_store.save(TEAM, TeamPlan(concurrency=1))
    assert container().lease_store.acquire(share_key(TEAM), "elsewhere", 1, time.time() + 600)
    task = create_task(api_key(), targetUrl=target.url("/kept", [200]), priority=5)
    messages = dispatched_at_create(aws, task["id"], "normal", RECEIVE_VISIBILITY)
    other = create_task(api_key(), targetUrl=target.url("/kept", [200]), priority=5)
    messages += dispatched_at_create(aws, other["id"], "normal", RECEIVE_VISIBILITY)

    def unavailable(entries: list[PutBack]) -> list[int]:
        """The first task's entry is not sent (as SendMessageBatch's `Failed`), the other is."""
        kept = [i for i, e in enumerate(entries) if e.task_id == task["id"]]
        others = [i for i, e in enumerate(entries) if e.task_id != task["id"]]
        return sorted(kept + [others[i] for i in real([entries[i] for i in others])])

    real = container().sqs_messages.put_back

    monkeypatch.setattr(container().sqs_messages, "put_back", unavailable)
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages),
                                    context("execute_normal", 330))

    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    aws.client("sqs").delete_message(QueueUrl=aws.env[NORMAL], ReceiptHandle=messages[1]["ReceiptHandle"])
    assert receive(aws, aws.env[NORMAL]) == []  # held for the put-back's delay
    assert target.calls("/kept") == [] and row(aws, task["id"])["status"] == {"S": "pending"}
    time.sleep(2.3)
    back = sorted(json.loads(m["Body"])["taskId"] for m in receive(aws, aws.env[NORMAL]))
    # The first: its own message again (nothing dropped); the second: its put-back.
    assert back == sorted([task["id"], other["id"]])


def test_put_backs_go_ten_to_a_batch_to_the_queue_each_came_from(aws: Provisioned) -> None:
    sqs = aws.client("sqs")
    arn = {name: sqs.get_queue_attributes(QueueUrl=aws.env[name], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
           for name in ("QUEUE_NORMAL_URL", "QUEUE_LOW_URL")}
    entries = [PutBack(arn["QUEUE_NORMAL_URL"], f"n{i}", 3, 0, TEAM) for i in range(23)]
    entries += [PutBack(arn["QUEUE_LOW_URL"], "l0", 1, 0), PutBack(arn["QUEUE_LOW_URL"], "l1", 7, 5_000)]
    calls: list[int] = []
    real = container().client("sqs").send_message_batch

    def counted(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Entries"]))
        return real(**kwargs)

    messages = container().sqs_messages
    messages._client = type("Client", (), {"send_message_batch": staticmethod(counted)})()  # noqa: SLF001

    assert messages.put_back(entries) == []

    assert sorted(calls) == [2, 3, 10, 10]
    normal = [json.loads(m["Body"]) for _ in range(3) for m in receive(aws, aws.env[NORMAL])]
    assert sorted(b["taskId"] for b in normal) == sorted(f"n{i}" for i in range(23))
    assert all(b["putBacks"] == 3 and b["teamId"] == TEAM for b in normal)
    low = [json.loads(m["Body"]) for m in receive(aws, aws.env["QUEUE_LOW_URL"])]
    assert low == [{"taskId": "l0", "putBacks": 1}]  # l1's delay was capped at SQS's 900 s: not yet visible


class Crash(BaseException):
    """The invocation dies (out of memory, a killed runtime): nothing of the handler runs after it."""


def test_a_message_received_by_an_invocation_that_dies_before_its_claim_comes_back_soon(
        aws: Provisioned, target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    task = create_task(api_key(), targetUrl=target.url("/never", [200]), priority=5)
    messages = dispatched_at_create(aws, task["id"], "normal")  # the queue's own visibility: 360 s
    executor = container().executor
    monkeypatch.setattr(executor, "claim_margin", 0.0)  # the message's hold until its claim: 1.5 s -> 2 s

    def dies(*_: object) -> None:
        raise Crash

    monkeypatch.setattr(executor.repository, "apply", dies)  # the claim (from the row the message carries)
    with pytest.raises(Crash):
        lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages),
                               context("execute_normal", 330))

    assert receive(aws, aws.env[NORMAL]) == []  # still in the dead invocation's hands ...
    time.sleep(2.2)
    [again] = receive(aws, aws.env[NORMAL])  # ... for the claim's margin, not the queue's 360 s
    assert json.loads(again["Body"])["taskId"] == task["id"]
    assert target.calls("/never") == []
    assert row(aws, task["id"])["status"] == {"S": "pending"}
