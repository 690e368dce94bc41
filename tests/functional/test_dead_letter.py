"""A message SQS gives up on (the lane's maxReceiveCount) reaches the DLQ, and the dead-letter
consumer marks its task failed: the redrive policy provisioned from template.yaml, in moto."""

from __future__ import annotations

import json

import app
from infra.runner import LambdaContext
from taskhook.container import container
from taskhook.intake.validation import parse_create_request
from taskhook.model.status import TaskStatus

from .conftest import Provisioned


def test_a_poison_message_is_dead_lettered_and_its_task_fails(aws: Provisioned) -> None:
    sqs = aws.client("sqs")
    task = container().task_service.create("team-a", parse_create_request({"targetUrl": "https://x.test/"}))
    lane = aws.env["QUEUE_NORMAL_URL"]
    # the create sent the task's message to its lane
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=lane, AttributeNames=["RedrivePolicy"])
                        ["Attributes"]["RedrivePolicy"])
    # Every delivery fails without deleting the message (a worker crashing on it, say).
    for _ in range(int(policy["maxReceiveCount"])):
        assert sqs.receive_message(QueueUrl=lane, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=lane, VisibilityTimeout=0)

    received = sqs.receive_message(QueueUrl=aws.env["DLQ_URL"], AttributeNames=["All"])["Messages"]
    assert len(received) == 1
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": policy["deadLetterTargetArn"], "awsRegion": "us-east-1",
    } for m in received]}
    answer = app.on_dead_letter(event, LambdaContext("on_dead_letter", 30))
    assert answer == {"batchItemFailures": []}

    failed = container().task_service.get("team-a", task.id)
    assert failed.status is TaskStatus.FAILED
    assert "dead-letter" in (failed.error or "")
    # A second delivery of the same dead letter changes nothing.
    app.on_dead_letter(event, LambdaContext("on_dead_letter", 30))
    assert container().task_service.get("team-a", task.id).completedAt == failed.completedAt
