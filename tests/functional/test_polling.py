"""Provider polling through the lane executor's entry point on moto (issue 14): the submit, then one
lane message per poll carrying the poll token (a new message each time: DelaySeconds = the
interval), against a scripted provider on 127.0.0.1 (tests/support/targets.py)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from botocore.client import BaseClient

import app as lambdas
from taskhook.container import container
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import (
    TEAM,
    api_key,
    context,
    create_task,
    create_task_event,
    dispatched_at_create,
    invoke_api,
    receive,
    row,
    sqs_event,
)

NORMAL = "QUEUE_NORMAL_URL"
AUTH = {"Authorization": "Bearer r8_secret"}


def body(status: int, document: Any) -> dict[str, Any]:
    return {"status": status, "body": json.dumps(document)}


def run(aws: Provisioned, messages: list[dict[str, Any]]) -> dict[str, Any]:
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages),
                                    context("execute_normal", 330))
    # Lambda deletes the messages of the records that succeeded.
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            aws.client("sqs").delete_message(QueueUrl=aws.env[NORMAL], ReceiptHandle=message["ReceiptHandle"])
    return dict(answer)


def next_poll(aws: Provisioned, timeout: float = 8, task_id: str | None = None) -> list[dict[str, Any]]:
    """The next poll message (of `task_id`: others are deleted), once its delay (the interval) is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = receive(aws, aws.env[NORMAL])
        if task_id is not None:
            for message in [m for m in messages if json.loads(m["Body"])["taskId"] != task_id]:
                aws.client("sqs").delete_message(QueueUrl=aws.env[NORMAL], ReceiptHandle=message["ReceiptHandle"])
            messages = [m for m in messages if json.loads(m["Body"])["taskId"] == task_id]
        if messages:
            return messages
        time.sleep(0.25)
    raise AssertionError("no poll message came")


def status(aws: Provisioned, task_id: str) -> str:
    return str(row(aws, task_id)["status"]["S"])


def submit(aws: Provisioned, target: TargetServer, answer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    task = create_task(api_key(), targetUrl=target.url("/v1/predictions", [answer]), headers=AUTH,
                       **{"provider": "replicate", "pollConfig": {"intervalSeconds": 1, "intervalGrowth": 1}, **fields})
    run(aws, dispatched_at_create(aws, task["id"], "normal"))
    return task


def replicate(target: TargetServer) -> dict[str, Any]:
    return {"id": "p1", "status": "starting",
            "urls": {"get": target.base + "/v1/predictions/p1", "cancel": target.base + "/v1/predictions/p1/cancel"}}


def test_a_replicate_task_polls_until_succeeded_and_keeps_the_final_prediction(aws: Provisioned,
                                                                               target: TargetServer) -> None:
    png = target.url("/files/out.png", [{"body": b"\x89PNG fake", "headers": {"Content-Type": "image/png"}}])
    final = {"id": "p1", "status": "succeeded", "output": [png], "error": None}
    target.url("/v1/predictions/p1", [body(200, {"id": "p1", "status": "processing"}), body(200, final)])
    task = submit(aws, target, body(201, replicate(target)))
    item = row(aws, task["id"])
    assert status(aws, task["id"]) == "polling" and float(item["maxWaitTime"]["N"]) == 3600

    [first] = next_poll(aws)
    token = item["claimToken"]["S"]
    assert json.loads(first["Body"]) == {"taskId": task["id"], "poll": token}
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert run(aws, [first]) == {"batchItemFailures": []}
    assert status(aws, task["id"]) == "polling" and row(aws, task["id"])["claimToken"]["S"] != token

    run(aws, next_poll(aws))
    done = container().task_repository.get(task["id"])
    assert done is not None and (done.status.value, done.result, done.error) == ("completed", final, None)
    calls = target.calls("/v1/predictions/p1")
    assert [c.method for c in calls] == ["GET", "GET"]
    assert all(c.headers.get("Authorization") == AUTH["Authorization"] for c in calls)  # the submit's origin
    assert receive(aws, aws.env[NORMAL]) == []  # the chain ended
    [output] = done.outputs or []  # copied at completion (run/provider_outputs.py)
    assert (output["source"], output["contentType"], output["size"]) == (png, "image/png", 9)
    stored = aws.client("s3").get_object(Bucket=aws.env["OUTPUTS_BUCKET"], Key=output["key"])
    assert stored["Body"].read() == b"\x89PNG fake"


def test_a_failed_prediction_fails_the_task_with_the_providers_error(aws: Provisioned, target: TargetServer) -> None:
    target.url("/v1/predictions/p1", [body(200, {"status": "failed", "error": "prompt was flagged"})])
    task = submit(aws, target, body(201, replicate(target)))
    run(aws, next_poll(aws))
    item = row(aws, task["id"])
    assert (item["status"]["S"], item["error"]["S"]) == ("failed", "prompt was flagged")


def test_a_fal_result_answered_422_fails_with_the_providers_message(aws: Provisioned, target: TargetServer) -> None:
    base = target.base + "/fal/requests/r1"
    target.url("/fal/requests/r1/status", [body(200, {"status": "COMPLETED"})])
    target.url("/fal/requests/r1", [body(422, {"detail": [{"loc": ["body"], "msg": "image_size is invalid"}]})])
    task = submit(aws, target, body(200, {"request_id": "r1", "status_url": base + "/status", "response_url": base,
                                          "cancel_url": base + "/cancel"}), provider="fal")
    run(aws, next_poll(aws))
    item = row(aws, task["id"])
    assert (item["status"]["S"], item["error"]["S"]) == ("failed", "image_size is invalid")


def test_poll_errors_keep_polling(aws: Provisioned, target: TargetServer) -> None:
    with socket.socket() as closed:  # a port nothing listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/status"
    target.url("/status", [{"status": 503}, {"status": 429, "headers": {"Retry-After": "1"}},
                           body(200, {"state": "ok", "n": 1})])
    task = create_task(api_key(), targetUrl=target.url("/jobs", [body(202, {"refused": refused,
                                                                            "status": target.base + "/status"})]),
                       pollConfig={"urlTemplate": "{{refused}}", "statusPath": "state", "doneValues": ["ok"],
                                   "failValues": ["bad"], "intervalSeconds": 1, "intervalGrowth": 1})
    run(aws, dispatched_at_create(aws, task["id"], "normal"))
    run(aws, next_poll(aws))
    polling = container().task_repository.get(task["id"])
    assert polling is not None and polling.status.value == "polling" and polling.poll is not None
    assert (polling.poll["errors"], polling.poll["lastError"]) == (1, "status poll: fetch failed: ECONNREFUSED")
    # Its next poll (1 s later) ends its chain here: on a slow machine it came due while the next
    # task was dispatched, on the same lane, and was taken for that task's message.
    for message in next_poll(aws, task_id=task["id"]):
        aws.client("sqs").delete_message(QueueUrl=aws.env[NORMAL], ReceiptHandle=message["ReceiptHandle"])

    other = create_task(api_key(), targetUrl=target.url("/jobs2", [body(202, {"status": target.base + "/status"})]),
                        pollConfig={"urlTemplate": "{{status}}", "statusPath": "state", "doneValues": ["ok"],
                                    "failValues": ["bad"], "intervalSeconds": 1, "intervalGrowth": 1})
    run(aws, dispatched_at_create(aws, other["id"], "normal"))
    for _ in range(2):  # 503, then 429 (Retry-After: 1)
        run(aws, next_poll(aws, task_id=other["id"]))
        assert status(aws, other["id"]) == "polling"
    run(aws, next_poll(aws, task_id=other["id"]))
    item = row(aws, other["id"])
    assert item["status"]["S"] == "completed" and json.loads(item["result"]["S"]) == {"state": "ok", "n": 1}


def test_a_stale_poll_message_is_dropped_and_a_redelivered_submit_restarts_the_chain(
        aws: Provisioned, target: TargetServer) -> None:
    target.url("/v1/predictions/p1", [body(200, {"status": "processing"})])
    task = submit(aws, target, body(201, replicate(target)))
    [first] = next_poll(aws)
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=aws.env[NORMAL], MessageBody=first["Body"])  # SQS delivered it twice
    run(aws, [first])
    [duplicate] = next_poll(aws, 1)
    assert json.loads(duplicate["Body"]) == json.loads(first["Body"])
    run(aws, [duplicate])
    assert len(target.calls("/v1/predictions/p1")) == 1  # dropped: no second poll
    [chain] = next_poll(aws)  # the one live chain

    # The submit's own message (no poll token) again: the chain is sent again, not dropped.
    sqs.send_message(QueueUrl=aws.env[NORMAL], MessageBody=json.dumps({"taskId": task["id"]}))
    [resubmitted] = next_poll(aws, 1)
    run(aws, [resubmitted])
    assert len(target.calls("/v1/predictions")) == 1  # not submitted again
    [again] = next_poll(aws)
    assert json.loads(again["Body"]) == {"taskId": task["id"], "poll": row(aws, task["id"])["claimToken"]["S"]}
    assert json.loads(chain["Body"]) == json.loads(again["Body"])


def test_cancel_while_polling_calls_the_providers_cancel_and_stops(aws: Provisioned, target: TargetServer) -> None:
    target.url("/v1/predictions/p1/cancel", [body(200, {"status": "canceled"})])
    task = submit(aws, target, body(201, replicate(target)))
    container().task_service.cancel(TEAM, task["id"])
    run(aws, next_poll(aws))
    [cancel] = target.calls("/v1/predictions/p1/cancel")
    assert cancel.method == "POST" and cancel.headers.get("Authorization") == AUTH["Authorization"]
    assert target.calls("/v1/predictions/p1") == []
    assert status(aws, task["id"]) == "cancelled"
    time.sleep(1.5)
    assert receive(aws, aws.env[NORMAL]) == []


def test_a_blocked_status_url_fails_the_task_with_the_guards_message(aws: Provisioned, target: TargetServer) -> None:
    # (Not 169.254.169.254 here: moto answers the metadata address itself, before any adapter.)
    task = submit(aws, target, body(201, {"urls": {"get": "http://10.1.2.3/v1/predictions/p1"}}))
    run(aws, next_poll(aws))
    item = row(aws, task["id"])
    assert (item["status"]["S"], item["error"]["S"]) == ("failed", "status poll: destination not allowed")


def test_a_placeholder_missing_from_the_submit_answer_fails_the_task(aws: Provisioned, target: TargetServer) -> None:
    task = submit(aws, target, body(201, {"id": "p1"}))
    item = row(aws, task["id"])
    assert (item["status"]["S"], item["error"]["S"]) == (
        "failed", "pollConfig.urlTemplate: submit answer has no urls.get")
    assert receive(aws, aws.env[NORMAL]) == []


def test_a_bad_poll_config_is_a_400_and_nothing_is_stored(aws: Provisioned) -> None:
    key = api_key()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pollConfig": {"urlTemplate": "{{id}}"}}, "pollConfig.statusPath is required"),
        ({"provider": "fal", "pollConfig": {"x": 1}}, "Unknown field: pollConfig.x"),
        ({"provider": "replicate", "pollConfig": {"intervalSeconds": 0.5}},
         "pollConfig.intervalSeconds must be a number between 1 and 300"),
    ]
    for fields, message in cases:
        assert invoke_api(create_task_event(key, **fields)) == (400, {"error": message})
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0


def test_the_aws_requests_one_pending_poll_costs(aws: Provisioned, target: TargetServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One poll that finds the job pending: one read and one write of the task, the next message
    sent, and the batch's visibility shortened (one call per batch of up to ten records). Lambda's
    poller adds its ReceiveMessage and DeleteMessageBatch (per batch)."""
    target.url("/v1/predictions/p1", [body(200, {"status": "processing"})])
    submit(aws, target, body(201, replicate(target)))
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], next_poll(aws))
    made: list[str] = []
    real = BaseClient._make_api_call  # PynamoDB's client and boto3's alike

    def counted(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        made.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    answer = lambdas.execute_normal(event, context("execute_normal", 330))
    monkeypatch.undo()
    assert answer == {"batchItemFailures": []}
    assert sorted(made) == ["ChangeMessageVisibilityBatch", "GetItem", "SendMessageBatch", "UpdateItem"]


def test_the_tasks_headers_and_resolved_tokens_go_to_the_submit_origin_only(aws: Provisioned,
                                                                             target: TargetServer) -> None:
    token = container().vault_service.create(TEAM, {"name": "replicate", "value": "r8_real_secret"})
    with TargetServer() as files:  # another origin (another port): the provider's file / status host
        target.url("/v1/predictions/p1/cancel", [body(200, {})])
        files.url("/status/p1", [body(200, {"status": "processing"})])
        urls = {"get": files.base + "/status/p1", "cancel": target.base + "/v1/predictions/p1/cancel"}
        task = create_task(api_key(), headers={"Authorization": f"Bearer {token.id}"}, provider="replicate",
                           pollConfig={"intervalSeconds": 1},
                           targetUrl=target.url("/v1/predictions", [body(201, {"urls": urls})]))
        run(aws, dispatched_at_create(aws, task["id"], "normal"))
        run(aws, next_poll(aws))
        container().task_service.cancel(TEAM, task["id"])
        run(aws, next_poll(aws))

        [submit_call] = target.calls("/v1/predictions")
        [status_call] = files.calls("/status/p1")
        [cancel_call] = target.calls("/v1/predictions/p1/cancel")
    assert submit_call.headers["Authorization"] == cancel_call.headers["Authorization"] == "Bearer r8_real_secret"
    assert "Authorization" not in status_call.headers and task["id"] not in str(status_call.headers)
    assert container().task_repository.get(task["id"]).headers == {  # type: ignore[union-attr]
        "Authorization": f"Bearer {token.id}"}  # the task keeps the reference
