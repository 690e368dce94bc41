"""Resending a notification whose delivery failed, on moto through the real handlers: the stream
queues it, the deliverer gives up (a 400), `POST …/resend` queues it again (not dropped by the FIFO
queue's deduplication), and the deliverer delivers it, signed, logged on the task."""

from __future__ import annotations

import json

import app as lambdas
from tests.support.api_client import ApiClient
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import _delivery_state, _notification_messages, context, receive, row, sqs_event


def deliver(aws: Provisioned, messages: list[dict[str, object]]) -> None:
    url = aws.env["NOTIFICATIONS_QUEUE_URL"]
    lambdas.deliver_notifications(sqs_event(aws, "sqs_fifo_notification.json", url, messages),
                                  context("DeliverNotificationsFunction"))
    for message in messages:  # what Lambda does with a record that did not fail
        aws.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_failed_delivery_is_resent_once_and_delivered(aws: Provisioned, target: TargetServer) -> None:
    task_id, messages = _notification_messages(aws, target, [400, 200])
    deliver(aws, messages)
    assert _delivery_state(aws, task_id)["status"] == "failed"
    api = ApiClient("team-a")
    code, body = api.call("GET", f"/v1/tasks/{task_id}")
    [shown] = body["task"]["notifications"]
    notification_id = shown["id"]
    assert notification_id == next(iter(row(aws, task_id)["notifications"]["M"]))

    code, body = api.call("POST", f"/v1/tasks/{task_id}/notifications/{notification_id}/resend")

    assert code == 202, body
    assert (body["notification"]["id"], body["notification"]["status"]) == (notification_id, "queued")
    # a second resend while it is queued: 409, nothing queued twice
    assert api.call("POST", f"/v1/tasks/{task_id}/notifications/{notification_id}/resend") == (
        409, {"error": "Only a failed notification can be resent"})
    resent = receive(aws, aws.env["NOTIFICATIONS_QUEUE_URL"], 1)
    assert len(resent) == 1
    deliver(aws, resent)
    calls = target.calls("/done")
    assert len(calls) == 2 and json.loads(calls[1].body)["task"]["id"] == task_id
    assert {k.lower() for k in calls[1].headers} >= {"webhook-id", "webhook-signature"}
    assert calls[1].headers.get("webhook-id") == calls[0].headers.get("webhook-id")
    state = _delivery_state(aws, task_id)
    assert (state["status"], state["attempts"]) == ("delivered", "1")


def test_resend_refuses_what_it_cannot_resend(aws: Provisioned, target: TargetServer) -> None:
    task_id, messages = _notification_messages(aws, target, [200])
    deliver(aws, messages)
    [notification_id] = row(aws, task_id)["notifications"]["M"]
    api = ApiClient("team-a")
    assert api.call("POST", f"/v1/tasks/{task_id}/notifications/{notification_id}/resend") == (
        409, {"error": "Only a failed notification can be resent"})
    assert api.call("POST", f"/v1/tasks/{task_id}/notifications/ntf_nope/resend") == (
        404, {"error": "Notification not found"})
    assert api.call("POST", f"/v1/tasks/nope/notifications/{notification_id}/resend")[0] == 404
    assert ApiClient("team-b").call("POST", f"/v1/tasks/{task_id}/notifications/{notification_id}/resend")[0] == 403
    assert _delivery_state(aws, task_id)["status"] == "delivered"
