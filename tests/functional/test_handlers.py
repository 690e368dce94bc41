"""Every Lambda entry point of app.py, called the way Lambda calls it: `handler(event, context)`
with a raw event dict and a context object.

The events are the realistic samples under tests/events/ (see its README): each test loads one,
fills in what this moto account decides (task ids, queue and stream ARNs, receipt handles, API
keys) and invokes the entry point. Effects are checked where they land, through boto3: the
tables, the queues, the scripted target server. The domain is touched only to issue API keys
and to rebuild the adapters after an environment change, as the other functional tests do.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID
from standardwebhooks.webhooks import Webhook

import app as lambdas
from functions.responses import NOT_FOUND
from infra.template import load_template
from taskhook.adapters.dynamo.packing import PACKED, packed_name, unpack
from taskhook.container import container, reset_container
from taskhook.run.executor import NEW_ROW_PATIENCE
from tests.support.targets import TargetServer

from .conftest import REGION, Provisioned

EVENTS = Path(__file__).resolve().parents[1] / "events"
TEAM = "team-a"
LANES = {"high": "QUEUE_HIGH_URL", "normal": "QUEUE_NORMAL_URL", "low": "QUEUE_LOW_URL"}
RECEIVE_VISIBILITY = 1
WS_MANAGEMENT_URL = "https://x7y8z9w0v1.execute-api.us-east-1.amazonaws.com/live"


# ---- plumbing: events, context, AWS reads ---------------------------------------------------

@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Chalice, Powertools and the handlers read."""

    function_name: str
    timeout_seconds: float = 30.0
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/handler-tests"
    log_stream_name: str = "2024/01/15/[$LATEST]0123456789abcdef0123456789abcdef"

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def context(function: str, timeout: float = 30.0) -> LambdaContext:
    return LambdaContext(f"taskhook-{function}-handler-tests", timeout)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def set_header(event: dict[str, Any], name: str, value: str) -> None:
    """API Gateway sends every header twice: `headers` (last value) and `multiValueHeaders`. A
    header the sample has already is replaced under its own spelling (an HTTP API passes some names
    in lower case)."""
    name = next((k for k in event["headers"] if k.lower() == name.lower()), name)
    event["headers"][name] = value
    event["multiValueHeaders"][name] = [value]


def api_key(team: str = TEAM, scope: str = "admin") -> str:
    """A new key of `team`: the team's own (admin scope) unless asked otherwise."""
    secret, _ = container().api_key_service.create(team, name="handler tests", scope=scope)
    return str(secret)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def row(aws: Provisioned, task_id: str) -> dict[str, Any]:
    """The task's item as DynamoDB holds it (and as a stream image carries it)."""
    item = aws.client("dynamodb").get_item(TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task_id}},
                                           ConsistentRead=True).get("Item")
    assert item is not None, f"no row for task {task_id}"
    return dict(item)


def plain_row(aws: Provisioned, task_id: str) -> dict[str, Any]:
    """The task's item with its compressed attributes (bodyZ, argsZ, resultZ: adapters/dynamo/packing.py)
    back as the plain ones they stand for ({"S": text}, JSON for args and result): what a test reads or
    searches for a secret must not hide in compressed bytes."""
    item = row(aws, task_id)
    for name in PACKED:
        packed = item.pop(packed_name(name), None)
        if packed is not None:
            item[name] = {"S": unpack(packed["B"])}
    return item


def queue_arn(aws: Provisioned, url: str) -> str:
    return str(aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
               ["Attributes"]["QueueArn"])


def stream_arn(aws: Provisioned) -> str:
    return str(aws.client("dynamodb").describe_table(TableName=aws.env["TASKS_TABLE"])["Table"]["LatestStreamArn"])


def receive(aws: Provisioned, url: str, visibility: int | None = None) -> list[dict[str, Any]]:
    """What Lambda's poller takes off the queue (`visibility`: instead of the queue's own)."""
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    answer = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                               MessageAttributeNames=["All"], WaitTimeSeconds=0, **extra)
    return list(answer.get("Messages", []))


def still_hidden_after_its_receive_visibility(aws: Provisioned, url: str) -> bool:
    """Messages received with a 1 s visibility that are still invisible after it: the handler
    changed their visibility (held them), which is how a retry waits out its backoff."""
    time.sleep(RECEIVE_VISIBILITY + 0.2)
    return receive(aws, url) == []


def sqs_event(aws: Provisioned, sample: str, url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The sample's first record, once per message received from `url`: what Lambda's poller
    hands the function for that batch."""
    template = load_event(sample)["Records"][0]
    arn = queue_arn(aws, url)
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"],
                      md5OfBody=message["MD5OfBody"], attributes=message["Attributes"], eventSourceARN=arn)
        records.append(record)
    return {"Records": records}


def stream_record(aws: Provisioned, event_name: str, new: dict[str, Any] | None = None,
                  old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sample batch's record of that kind, carrying these images (DynamoDB JSON)."""
    record = next(r for r in load_event("dynamodb_stream_tasks_batch.json")["Records"] if r["eventName"] == event_name)
    record["eventSourceARN"] = stream_arn(aws)
    image = new if new is not None else old
    if image is not None:
        record["dynamodb"]["Keys"] = {"id": image["id"]}
    for name, value in (("NewImage", new), ("OldImage", old)):
        if value is not None:
            record["dynamodb"][name] = value
    return record


def invoke_api(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = lambdas.app(event, context("ApiFunction"))
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else {}


def create_task_event(key: str, **fields: Any) -> dict[str, Any]:
    event = load_event("api_gateway_create_task.json")
    body = {**json.loads(event["body"]), **fields}
    event["body"] = json.dumps({k: v for k, v in body.items() if v is not None})
    set_header(event, "Authorization", f"Bearer {key}")
    set_header(event, "Content-Length", str(len(event["body"].encode())))
    return event


def create_task(key: str, **fields: Any) -> dict[str, Any]:
    status, body = invoke_api(create_task_event(key, **fields))
    assert status == 201, body
    return dict(body["task"])


def lane_counts(aws: Provisioned) -> dict[str, int]:
    sqs = aws.client("sqs")
    counts = {}
    for lane, env in LANES.items():
        attributes = sqs.get_queue_attributes(QueueUrl=aws.env[env], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        counts[lane] = sum(int(v) for v in attributes.values())
    return counts


def dispatched_at_create(aws: Provisioned, task_id: str, lane: str,
                         visibility: int | None = None) -> list[dict[str, Any]]:
    """The message the API sent at create, as Lambda's poller would take it off the lane. The row's
    INSERT record goes through on_task_change first: the outbox leaves a row sent at create alone,
    so the lane holds that one message."""
    answer = lambdas.on_task_change({"Records": [stream_record(aws, "INSERT", new=row(aws, task_id))]},
                                    context("NotifierFunction", 60))
    assert answer == {"batchItemFailures": []}
    messages = receive(aws, aws.env[LANES[lane]], visibility)
    assert [json.loads(m["Body"])["taskId"] for m in messages] == [task_id]
    assert [json.loads(m["Body"])["task"]["id"] for m in messages] == [task_id]  # it carries the row
    return messages


# ---- app: the API (API Gateway proxy events, payload format 1.0: Chalice's REST API, SAM's HTTP API) --

def test_api_creates_a_task_from_an_api_gateway_event(aws: Provisioned) -> None:
    status, body = invoke_api(create_task_event(api_key(), priority=9))

    assert status == 201
    task = body["task"]
    assert (task["teamId"], task["status"], task["priority"]) == (TEAM, "pending", 9)
    assert task["targetUrl"] == "https://api.example.com/webhook"
    item = row(aws, task["id"])
    assert item["teamPhase"] == {"S": f"{TEAM}#open"}
    assert item["body"] == {"S": '{"orderId": 42}'}
    assert item["onCompleteUrl"] == {"S": "https://hooks.example.com/taskhook"}


def test_api_reads_a_task_by_its_path_parameter(aws: Provisioned) -> None:
    key = api_key()
    task = create_task(key)
    event = load_event("api_gateway_get_task.json")
    event["pathParameters"]["task_id"] = task["id"]
    event["path"] = f"/v1/tasks/{task['id']}"
    event["requestContext"]["path"] = f"/api/v1/tasks/{task['id']}"
    set_header(event, "Authorization", f"Bearer {key}")

    status, body = invoke_api(event)

    assert status == 200
    assert body["task"]["id"] == task["id"]
    assert body["task"]["status"] == "pending"
    # Another team's key is refused it.
    set_header(event, "Authorization", f"Bearer {api_key('team-b')}")
    status, body = invoke_api(event)
    assert status == 403 and "task" not in body


def test_api_rejects_an_unknown_key_and_writes_nothing(aws: Provisioned) -> None:
    status, body = invoke_api(create_task_event("th_not-a-key"))

    assert (status, body) == (401, {"error": "Invalid or revoked API key"})
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0


def test_api_idempotency_key_replays_the_first_answer(aws: Provisioned) -> None:
    """The one API path that reads the Lambda context (Powertools idempotency registers it)."""
    event = create_task_event(api_key())
    set_header(event, "Idempotency-Key", "order-42")

    first_status, first = invoke_api(event)
    second_status, second = invoke_api(copy.deepcopy(event))

    assert (first_status, second_status) == (201, 200)
    assert second["task"]["id"] == first["task"]["id"]
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 1


def _http_api_event(sample: str, key: str | None = None) -> dict[str, Any]:
    """A sample of what template.yaml's HTTP API sends the API function (payload format 1.0)."""
    event = load_event(sample)
    assert (event["version"], event["requestContext"]["stage"]) == ("1.0", "$default")
    if key is not None:
        set_header(event, "Authorization", f"Bearer {key}")
    return event


def _template_route(event: dict[str, Any]) -> dict[str, Any]:
    """The template's ApiFunction event that routes this request to the function."""
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    (route,) = [e["Properties"] for e in events if e["Type"] == "HttpApi"
                and e["Properties"].get("Path") == event["resource"]
                and e["Properties"].get("Method") == event["httpMethod"]]
    assert route["PayloadFormatVersion"] == "1.0"  # the REST-shaped event Chalice reads
    return route


def test_api_behind_the_sam_templates_route(aws: Provisioned) -> None:
    """template.yaml declares one HTTP API route per Chalice route, payload format 1.0: the event it
    sends (resourcePath the route's template, stage `$default`) is served, and the task stored."""
    event = _http_api_event("http_api_create_task.json", api_key())
    _template_route(event)

    status, body = invoke_api(event)

    assert status == 201, (status, body)
    assert body["task"]["status"] == "pending"
    assert row(aws, body["task"]["id"])["teamPhase"] == {"S": f"{TEAM}#open"}


def test_api_reads_a_task_through_the_http_apis_route(aws: Provisioned) -> None:
    """A route with a path parameter and a query string, as the HTTP API sends them."""
    key = api_key()
    task = create_task(key)
    event = _http_api_event("http_api_get_task.json", key)
    _template_route(event)
    event["pathParameters"]["task_id"] = task["id"]
    event["path"] = event["requestContext"]["path"] = f"/v1/tasks/{task['id']}"

    answer = lambdas.app(event, context("ApiFunction"))

    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["task"]["id"] == task["id"]
    assert answer["headers"]["Content-Type"] == "application/json"
    assert not answer.get("isBase64Encoded")  # HTTP APIs decode a base64 body whatever its type
    # The query string is read: a wait out of range is refused.
    event["queryStringParameters"], event["multiValueQueryStringParameters"] = {"wait": "99"}, {"wait": ["99"]}
    status, body = invoke_api(event)
    assert status == 400 and "wait" in body["error"]


def test_a_body_the_http_api_base64_encodes_is_read(aws: Provisioned) -> None:
    """An HTTP API base64-encodes a body whose Content-Type is not a text type (curl -d sends
    application/x-www-form-urlencoded), REST did not: the app reads it all the same."""
    event = _http_api_event("http_api_create_task.json", api_key())
    set_header(event, "Content-Type", "application/x-www-form-urlencoded")
    event["body"], event["isBase64Encoded"] = base64.b64encode(event["body"].encode()).decode(), True

    status, body = invoke_api(event)

    assert status == 201, (status, body)
    assert row(aws, body["task"]["id"])["body"] == {"S": '{"orderId": 42}'}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/task/0f8fad5b-d9cb-469f-a165-70867728950e", None),  # the sample: a path no route serves
    ("DELETE", "/v1/tasks", None),  # a route's path, a method it does not take
    ("POST", "/v1/tasks/create", '{"targetUrl": "https://api.example.com/webhook"}'),
])
def test_a_request_no_route_serves_is_a_json_404_from_the_default_route(
        aws: Provisioned, method: str, path: str, body: str | None) -> None:
    """An HTTP API has no gateway responses: template.yaml's `$default` route sends every request no
    route matches to the API function (resourcePath `$default`), which answers 404 `{"error": "Not
    found"}` as the REST API's gateway did, never a 5xx, repeats nothing of the request and writes
    nothing."""
    key = api_key()
    event = _http_api_event("http_api_unknown_path.json", key)
    events = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    assert [e for e in events if e["Type"] == "HttpApi" and "Path" not in e["Properties"]
            and "Method" not in e["Properties"]]  # SAM's $default route: neither Path nor Method
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = event["requestContext"]["path"] = path
    event["body"] = body

    answer = lambdas.app(event, context("ApiFunction"))

    assert (answer["statusCode"], json.loads(answer["body"])) == (404, {"error": NOT_FOUND})
    assert answer["headers"]["Content-Type"] == "application/json"
    assert key not in json.dumps(answer)
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0


def test_the_dashboards_slashed_path_on_the_default_route_is_sent_to_its_route(aws: Provisioned) -> None:
    """Seed 003's `/admins/tasks/`: should the HTTP API not match it to `/admins/tasks`, it reaches
    the `$default` route, which sends the browser there (relative, so a stage or domain prefix stays)."""
    event = _http_api_event("http_api_unknown_path.json", api_key())
    event["path"] = event["requestContext"]["path"] = "/admins/tasks/"
    event["headers"].pop("Authorization", None)

    answer = lambdas.app(event, context("ApiFunction"))

    assert (answer["statusCode"], answer["headers"]["Location"]) == (302, "../tasks")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "POST"
    assert lambdas.app(event, context("ApiFunction"))["statusCode"] == 404


# ---- on_task_change: the tasks table's stream (NEW_AND_OLD_IMAGES) ----------------------------

@pytest.mark.parametrize(("priority", "lane"), [(10, "high"), (8, "high"), (5, "normal"), (1, "low")])
def test_an_inserted_pending_task_is_sent_to_its_priority_lane(aws: Provisioned, priority: int, lane: str) -> None:
    record = stream_record(aws, "INSERT")
    image = record["dynamodb"]["NewImage"]
    task_id = str(uuid.uuid4())
    image["id"] = record["dynamodb"]["Keys"]["id"] = {"S": task_id}
    image["priority"] = {"N": str(priority)}

    answer = lambdas.on_task_change({"Records": [record]}, context("NotifierFunction", 60))

    assert answer == {"batchItemFailures": []}
    assert lane_counts(aws) == {name: int(name == lane) for name in LANES}
    assert [json.loads(m["Body"]) for m in receive(aws, aws.env[LANES[lane]])] == [{"taskId": task_id}]


def test_the_sample_stream_batch_dispatches_notifies_and_ignores_the_removal(aws: Provisioned) -> None:
    """The sample batch as the stream delivers it: an INSERT (pending), a MODIFY (processing ->
    completed, with an onCompleteUrl) and a REMOVE."""
    event = load_event("dynamodb_stream_tasks_batch.json")
    for record in event["Records"]:
        record["eventSourceARN"] = stream_arn(aws)
    inserted = event["Records"][0]["dynamodb"]["NewImage"]["id"]["S"]

    answer = lambdas.on_task_change(event, context("NotifierFunction", 60))

    assert answer == {"batchItemFailures": []}
    assert lane_counts(aws) == {"high": 0, "normal": 1, "low": 0}
    assert json.loads(receive(aws, aws.env["QUEUE_NORMAL_URL"])[0]["Body"]) == {"taskId": inserted}
    [notification] = receive(aws, aws.env["NOTIFICATIONS_QUEUE_URL"])
    body = json.loads(notification["Body"])
    assert (body["taskId"], body["kind"], body["status"], body["url"]) == (
        inserted, "onComplete", "completed", "https://hooks.example.com/taskhook")
    assert body["sequence"] == event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert body["body"]["task"]["result"]["statusCode"] == 200
    assert notification["Attributes"]["MessageGroupId"] == inserted


def test_a_record_whose_dispatch_failed_is_reported_by_its_sequence_number(aws: Provisioned) -> None:
    aws.client("sqs").delete_queue(QueueUrl=aws.env["QUEUE_LOW_URL"])
    low, normal = stream_record(aws, "INSERT"), stream_record(aws, "INSERT")
    for record, priority, sequence in ((low, 2, "4421584500000000017450439101"),
                                       (normal, 6, "4421584500000000017450439102")):
        task_id = {"S": str(uuid.uuid4())}
        record["dynamodb"]["Keys"]["id"] = record["dynamodb"]["NewImage"]["id"] = task_id
        record["dynamodb"]["NewImage"]["priority"] = {"N": str(priority)}
        record["dynamodb"]["SequenceNumber"] = sequence

    answer = lambdas.on_task_change({"Records": [low, normal]}, context("NotifierFunction", 60))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439101"}]}
    assert [json.loads(m["Body"])["taskId"] for m in receive(aws, aws.env["QUEUE_NORMAL_URL"])] == [
        normal["dynamodb"]["NewImage"]["id"]["S"]]


# ---- execute_high / execute_normal / execute_low: the lanes (SQS, partial batch failures) -------

@pytest.mark.parametrize(("handler", "priority", "lane"), [
    ("execute_high", 9, "high"), ("execute_normal", 5, "normal"), ("execute_low", 2, "low")])
def test_a_lane_executor_runs_the_task(aws: Provisioned, target: TargetServer, handler: str, priority: int,
                                       lane: str) -> None:
    task = create_task(api_key(), targetUrl=target.url("/orders", [200]), priority=priority)
    messages = dispatched_at_create(aws, task["id"], lane)
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env[LANES[lane]], messages)

    answer = getattr(lambdas, handler)(event, context(handler, 330))

    assert answer == {"batchItemFailures": []}
    [call] = target.calls("/orders")
    assert (call.method, call.body) == ("POST", b'{"orderId": 42}')
    assert call.headers["Content-Type"] == "application/json"
    item = plain_row(aws, task["id"])
    assert item["status"] == {"S": "completed"}
    assert json.loads(item["result"]["S"])["statusCode"] == 200
    assert "completedAt" in item and "claimToken" not in item


def test_every_record_of_a_full_batch_is_called_at_once(aws: Provisioned, target: TargetServer) -> None:
    """Issue 11.4: a record waiting for a thread is received but not claimed; if the invocation dies
    it waits out the queue's whole visibility (360 s). All ten of a batch start together, and each
    call carries the task id for the target to de-duplicate on (at-least-once: DESIGN.md §3)."""
    import threading

    held = target.url("/held", [{"hang": True}])
    tasks, messages = [], []
    for _ in range(10):
        tasks.append(create_task(api_key(), targetUrl=held, timeout=20, maxWaitTime=60))
        messages += dispatched_at_create(aws, tasks[-1]["id"], "normal")
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env["QUEUE_NORMAL_URL"], messages)
    run = threading.Thread(target=lambdas.execute_normal, args=(event, context("execute_normal", 330)))
    run.start()
    try:
        calls = target.wait_for_calls("/held", 10, timeout=15)
    finally:
        target.release()
        run.join(60)
    assert len(calls) == 10
    assert sorted(c.headers["Taskhook-Task-Id"] for c in calls) == sorted(t["id"] for t in tasks)
    assert all(c.headers["Idempotency-Key"] == c.headers["Taskhook-Task-Id"] for c in calls)


def test_a_target_call_keeps_the_callers_own_idempotency_key(aws: Provisioned, target: TargetServer) -> None:
    task = create_task(api_key(), targetUrl=target.url("/own", [200]), headers={"idempotency-key": "mine"})
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env["QUEUE_NORMAL_URL"],
                      dispatched_at_create(aws, task["id"], "normal"))
    lambdas.execute_normal(event, context("execute_normal", 330))
    [call] = target.calls("/own")
    assert call.headers["idempotency-key"] == "mine" and call.headers["Taskhook-Task-Id"] == task["id"]
    assert [k.lower() for k in call.headers].count("idempotency-key") == 1


def test_a_retry_is_a_batch_item_failure_held_for_the_backoff(aws: Provisioned, target: TargetServer) -> None:
    task = create_task(api_key(), targetUrl=target.url("/busy", [{"status": 503, "headers": {"Retry-After": "120"}}]))
    other = create_task(api_key(), targetUrl=target.url("/fine", [200]))
    # Both through the stream in one batch, then one receive (with its 1 s visibility): two receives
    # a second apart let the first message come back into the second on a loaded machine.
    records = [stream_record(aws, "INSERT", new=row(aws, t["id"])) for t in (task, other)]
    assert lambdas.on_task_change({"Records": records}, context("NotifierFunction", 60)) == {"batchItemFailures": []}
    received = receive(aws, aws.env["QUEUE_NORMAL_URL"], RECEIVE_VISIBILITY)
    order = {task["id"]: 0, other["id"]: 1}
    messages = sorted(received, key=lambda m: order[json.loads(m["Body"])["taskId"]])
    assert [json.loads(m["Body"])["taskId"] for m in messages] == [task["id"], other["id"]]
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env["QUEUE_NORMAL_URL"], messages)
    started = datetime.now(UTC)

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert row(aws, other["id"])["status"] == {"S": "completed"}
    item = row(aws, task["id"])
    assert (item["status"], item["retryCount"], item["error"]) == ({"S": "pending"}, {"N": "1"}, {"S": "HTTP 503"})
    retry_at = datetime.fromisoformat(item["retryAt"]["S"].replace("Z", "+00:00"))
    assert timedelta(seconds=119) <= retry_at - started <= timedelta(seconds=125)
    # Lambda deletes the succeeded record's message; the failed one was held (it is not back after
    # the poller's 1 s visibility), so SQS redelivers it when its backoff ends.
    aws.client("sqs").delete_message(QueueUrl=aws.env["QUEUE_NORMAL_URL"], ReceiptHandle=messages[1]["ReceiptHandle"])
    assert still_hidden_after_its_receive_visibility(aws, aws.env["QUEUE_NORMAL_URL"])


def _unknown_task_messages(aws: Provisioned, sent_ago: float) -> dict[str, Any]:
    """The sample lane batch's two messages for tasks no row has, as sent `sent_ago` seconds ago."""
    sqs = aws.client("sqs")
    url = aws.env["QUEUE_NORMAL_URL"]
    for record in load_event("sqs_lane_batch.json")["Records"]:
        sqs.send_message(QueueUrl=url, MessageBody=record["body"])
    messages = receive(aws, url, RECEIVE_VISIBILITY)
    assert len(messages) == 2
    for message in messages:
        message["Attributes"]["SentTimestamp"] = str(int((time.time() - sent_ago) * 1000))
    return sqs_event(aws, "sqs_lane_batch.json", url, messages)


def test_a_lane_message_whose_row_never_came_is_acknowledged(aws: Provisioned) -> None:
    """A message whose task row is gone (or never was written: the create that sent it failed after
    its send) is done with once it is older than any create could take, not retried forever."""
    event = _unknown_task_messages(aws, NEW_ROW_PATIENCE + 1)

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0


def test_a_young_lane_message_waits_for_its_row(aws: Provisioned) -> None:
    """The API sends a task's message before it writes the row: a message received before its row
    is there comes back later (held ROW_WAIT), and nothing is written."""
    event = _unknown_task_messages(aws, 1)

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    failed = sorted(f["itemIdentifier"] for f in answer["batchItemFailures"])
    assert failed == sorted(r["messageId"] for r in event["Records"])  # in the order the records ended
    assert aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], Select="COUNT")["Count"] == 0
    assert still_hidden_after_its_receive_visibility(aws, aws.env["QUEUE_NORMAL_URL"])


def test_a_message_received_before_its_rows_write_runs_the_task_once_the_row_is_there(
        aws: Provisioned, target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race of the create path: the executor reads before the create's PutItem has landed."""
    task = create_task(api_key(), targetUrl=target.url("/late-row", [200]))
    messages = receive(aws, aws.env["QUEUE_NORMAL_URL"])
    repository = container().task_repository
    real_get = repository.get
    reads: list[str] = []

    def row_after_the_second_read(task_id: str) -> Any:
        reads.append(task_id)
        return real_get(task_id) if len(reads) > 2 else None

    monkeypatch.setattr(repository, "get", row_after_the_second_read)
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env["QUEUE_NORMAL_URL"], messages),
                                    context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert len(target.calls("/late-row")) == 1
    assert row(aws, task["id"])["status"] == {"S": "completed"}


def test_a_create_whose_send_fails_is_sent_by_the_streams_outbox(
        aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repair path: SQS refusing the create's send does not fail the create; the row is written
    without `sentAtCreate`, and its INSERT record sends the message."""
    client = container().task_queue._client

    def refused(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AWS.SimpleQueueService.ServiceUnavailable", "Message": "down"}},
                          "SendMessage")

    monkeypatch.setattr(client, "send_message", refused)
    task = create_task(api_key())
    monkeypatch.undo()

    assert "sentAtCreate" not in row(aws, task["id"])
    assert lane_counts(aws) == {"high": 0, "normal": 0, "low": 0}
    answer = lambdas.on_task_change({"Records": [stream_record(aws, "INSERT", new=row(aws, task["id"]))]},
                                    context("NotifierFunction", 60))
    assert answer == {"batchItemFailures": []}
    assert [json.loads(m["Body"]) for m in receive(aws, aws.env["QUEUE_NORMAL_URL"])] == [{"taskId": task["id"]}]


def test_a_created_task_is_on_its_lane_before_any_stream_record(aws: Provisioned) -> None:
    task = create_task(api_key(), priority=9)

    assert row(aws, task["id"])["sentAtCreate"] == {"BOOL": True}
    assert [json.loads(m["Body"])["taskId"] for m in receive(aws, aws.env["QUEUE_HIGH_URL"])] == [task["id"]]
    assert lane_counts(aws) == {"high": 1, "normal": 0, "low": 0}  # received, not yet deleted


# ---- on_dead_letter: the lanes' DLQ ----------------------------------------------------------

def test_a_dead_letter_fails_its_task(aws: Provisioned) -> None:
    task = create_task(api_key())
    sqs = aws.client("sqs")
    sample = load_event("sqs_dead_letter_batch.json")["Records"][0]
    sqs.send_message(QueueUrl=aws.env["DLQ_URL"], MessageBody=json.dumps({"taskId": task["id"]}))
    sqs.send_message(QueueUrl=aws.env["DLQ_URL"], MessageBody=sample["body"])  # the sample's task: no such row
    messages = receive(aws, aws.env["DLQ_URL"])
    event = sqs_event(aws, "sqs_dead_letter_batch.json", aws.env["DLQ_URL"], messages)
    for record in event["Records"]:
        record["attributes"]["DeadLetterQueueSourceArn"] = sample["attributes"]["DeadLetterQueueSourceArn"]

    answer = lambdas.on_dead_letter(event, context("DeadLetterFunction"))

    assert answer == {"batchItemFailures": []}
    item = row(aws, task["id"])
    assert item["status"] == {"S": "failed"}
    assert "dead-letter" in item["error"]["S"]
    assert "completedAt" in item
    # Redelivered, the same dead letter changes nothing.
    assert lambdas.on_dead_letter(event, context("DeadLetterFunction")) == {"batchItemFailures": []}
    assert row(aws, task["id"])["completedAt"] == item["completedAt"]


# ---- sweep: the EventBridge schedule ---------------------------------------------------------

def test_the_minute_sweep_resends_a_delayed_task_whose_message_was_lost(aws: Provisioned) -> None:
    event = load_event("eventbridge_schedule.json")
    later = datetime.now(UTC) + timedelta(minutes=20)
    task = create_task(api_key(), delayUntil=iso(later), priority=9)
    item = row(aws, task["id"])
    assert (item["status"], item["dueAt"]) == ({"S": "delayed"}, item["delayUntil"])

    # Not due within the sweep's window: nothing to do.
    assert lambdas.sweep(event, context("SchedulerFunction", 60)) == {"dispatched": 0, "repaired": 0, "timedOut": 0}
    assert lane_counts(aws) == {"high": 0, "normal": 0, "low": 0}

    # Two minutes overdue and still delayed: its message was lost, so the sweep sends it again.
    overdue = {"S": iso(datetime.now(UTC) - timedelta(minutes=2))}
    aws.client("dynamodb").update_item(
        TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task["id"]}},
        UpdateExpression="SET delayUntil = :t, dueAt = :t", ExpressionAttributeValues={":t": overdue})

    report = lambdas.sweep(event, context("SchedulerFunction", 60))

    assert report == {"dispatched": 0, "repaired": 1, "timedOut": 0}
    assert [json.loads(m["Body"]) for m in receive(aws, aws.env["QUEUE_HIGH_URL"])] == [{"taskId": task["id"]}]
    assert "dispatchedAt" in row(aws, task["id"])
    # The next minute's sweep does not send it a third time.
    assert lambdas.sweep(event, context("SchedulerFunction", 60)) == {"dispatched": 0, "repaired": 0, "timedOut": 0}


# ---- deliver_notifications: the notifications FIFO queue -------------------------------------

def _notification_messages(aws: Provisioned, target: TargetServer, script: list[Any]) -> tuple[str, list[dict]]:
    """The sample MODIFY (processing -> completed) of a task whose onCompleteUrl is the target:
    the row as the table holds it, its stream record through on_task_change, and the
    notification's message as the deliverer's poller receives it."""
    record = stream_record(aws, "MODIFY")
    task_id = str(uuid.uuid4())
    url = {"S": target.url("/done", script)}
    for image in (record["dynamodb"]["OldImage"], record["dynamodb"]["NewImage"]):
        image.update(id={"S": task_id}, onCompleteUrl=url)
    record["dynamodb"]["Keys"] = {"id": {"S": task_id}}
    aws.client("dynamodb").put_item(TableName=aws.env["TASKS_TABLE"], Item=record["dynamodb"]["NewImage"])
    assert lambdas.on_task_change({"Records": [record]}, context("NotifierFunction", 60)) == {"batchItemFailures": []}
    messages = receive(aws, aws.env["NOTIFICATIONS_QUEUE_URL"], RECEIVE_VISIBILITY)
    assert len(messages) == 1
    return task_id, messages


def _delivery_state(aws: Provisioned, task_id: str) -> dict[str, Any]:
    [entry] = row(aws, task_id)["notifications"]["M"].values()
    return {name: next(iter(value.values())) for name, value in entry["M"].items()}


def test_the_deliverer_posts_the_signed_notification(aws: Provisioned, target: TargetServer) -> None:
    task_id, messages = _notification_messages(aws, target, [200])
    event = sqs_event(aws, "sqs_fifo_notification.json", aws.env["NOTIFICATIONS_QUEUE_URL"], messages)
    assert event["Records"][0]["attributes"]["MessageGroupId"] == task_id

    answer = lambdas.deliver_notifications(event, context("DeliverNotificationsFunction"))

    assert answer == {"batchItemFailures": []}
    [call] = target.calls("/done")
    payload = json.loads(call.body)
    assert (payload["task"]["id"], payload["task"]["status"]) == (task_id, "completed")
    assert payload["sequence"] == load_event("dynamodb_stream_tasks_batch.json")["Records"][1]["dynamodb"][
        "SequenceNumber"]
    # Signed with the team's secret, as `GET /v1/webhooks/secret` shows it to the customer.
    secret_event = load_event("api_gateway_webhook_secret.json")
    set_header(secret_event, "Authorization", f"Bearer {api_key()}")
    status, secrets = invoke_api(secret_event)
    assert status == 200
    headers = {k.lower(): v for k, v in call.headers.items()}
    assert Webhook(secrets["secrets"][0]["secret"]).verify(call.body, headers) == payload
    assert _delivery_state(aws, task_id) | {"url": None} == {
        "kind": "onComplete", "url": None, "status": "delivered", "attempts": "1", "taskStatus": "completed",
        "sequence": payload["sequence"]}


def test_a_failed_delivery_is_recorded_and_its_message_held_for_the_backoff(aws: Provisioned,
                                                                           target: TargetServer) -> None:
    task_id, messages = _notification_messages(aws, target, [503])
    event = sqs_event(aws, "sqs_fifo_notification.json", aws.env["NOTIFICATIONS_QUEUE_URL"], messages)

    lambdas.deliver_notifications(event, context("DeliverNotificationsFunction"))

    assert len(target.calls("/done")) == 1
    state = _delivery_state(aws, task_id)
    assert (state["status"], state["attempts"], state["lastError"]) == ("retrying", "1", "HTTP 503")
    assert still_hidden_after_its_receive_visibility(aws, aws.env["NOTIFICATIONS_QUEUE_URL"])  # the backoff


def test_a_failed_delivery_is_answered_as_a_batch_item_failure(aws: Provisioned, target: TargetServer) -> None:
    _, messages = _notification_messages(aws, target, [503])
    event = sqs_event(aws, "sqs_fifo_notification.json", aws.env["NOTIFICATIONS_QUEUE_URL"], messages)

    answer = lambdas.deliver_notifications(event, context("DeliverNotificationsFunction"))

    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}


# ---- ws_connect / ws_message / ws_disconnect: the WebSocket API -------------------------------

def connections(aws: Provisioned) -> set[tuple[str, str, str]]:
    """The subscription rows (not the `opener#…` row that records each connection's credential)."""
    items = aws.client("dynamodb").scan(TableName=aws.env["CONNECTIONS_TABLE"])["Items"]
    return {(i["connectionId"]["S"], i["topic"]["S"], i["teamId"]["S"]) for i in items
            if not i["topic"]["S"].startswith("opener#")}


def connect_event(key: str, task_id: str | None = None) -> dict[str, Any]:
    event = load_event("websocket_connect.json")
    query = {"api_key": key, **({"task_id": task_id} if task_id else {})}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def message_event(body: str) -> dict[str, Any]:
    event = load_event("websocket_message.json")
    event["body"] = body
    return event


def test_ws_connect_refuses_a_bad_key(aws: Provisioned) -> None:
    answer = lambdas.ws_connect(connect_event("th_not-a-key"), context("WsConnectFunction"))

    assert answer == {"statusCode": 401, "body": json.dumps({"error": "Invalid or revoked API key"})}
    assert connections(aws) == set()


def test_ws_connect_refuses_another_teams_task(aws: Provisioned) -> None:
    task = create_task(api_key("team-b"))

    answer = lambdas.ws_connect(connect_event(api_key(), task["id"]), context("WsConnectFunction"))

    assert answer["statusCode"] == 404  # as for no such task: the answer does not tell it exists
    assert connections(aws) == set()


def test_ws_connect_subscribes_to_the_task_of_its_query(aws: Provisioned) -> None:
    key = api_key()
    task = create_task(key)
    event = connect_event(key, task["id"])

    answer = lambdas.ws_connect(event, context("WsConnectFunction"))

    assert answer == {"statusCode": 200, "body": ""}
    assert connections(aws) == {(event["requestContext"]["connectionId"], f"task#{task['id']}", TEAM)}


def test_ws_message_adds_a_task_to_an_open_connection(aws: Provisioned) -> None:
    key = api_key()
    task = create_task(key)
    connection = load_event("websocket_connect.json")["requestContext"]["connectionId"]
    assert lambdas.ws_connect(connect_event(key), context("WsConnectFunction"))["statusCode"] == 200
    assert connections(aws) == {(connection, f"team#{TEAM}", TEAM)}
    subscribe = json.dumps({"action": "subscribe", "task_id": task["id"]})

    answer = lambdas.ws_message(message_event(subscribe), context("WsMessageFunction"))

    assert answer == {"statusCode": 200, "body": ""}
    assert connections(aws) == {(connection, f"team#{TEAM}", TEAM), (connection, f"task#{task['id']}", TEAM)}
    # Not JSON, not a subscription, an unknown task: refused, nothing added.
    for body, status in (("hello", 400), ('{"action": "unsubscribe"}', 400),
                         (json.dumps({"action": "subscribe", "task_id": str(uuid.uuid4())}), 404)):
        assert lambdas.ws_message(message_event(body), context("WsMessageFunction"))["statusCode"] == status
    assert len(connections(aws)) == 2


def test_ws_message_on_a_connection_that_never_authenticated_is_refused(aws: Provisioned) -> None:
    """The sample message event, on a connection $connect never accepted."""
    answer = lambdas.ws_message(load_event("websocket_message.json"), context("WsMessageFunction"))

    assert answer == {"statusCode": 401, "body": json.dumps({"error": "connection is not authenticated"})}
    assert connections(aws) == set()


def test_ws_disconnect_forgets_every_subscription_of_the_connection(aws: Provisioned) -> None:
    key = api_key()
    task = create_task(key)
    assert lambdas.ws_connect(connect_event(key), context("WsConnectFunction"))["statusCode"] == 200
    other = connect_event(key)
    other["requestContext"]["connectionId"] = "R1xe8cx0IAMCJ3Q="
    assert lambdas.ws_connect(other, context("WsConnectFunction"))["statusCode"] == 200
    subscribe = json.dumps({"action": "subscribe", "task_id": task["id"]})
    assert lambdas.ws_message(message_event(subscribe), context("WsMessageFunction"))["statusCode"] == 200
    assert len(connections(aws)) == 3

    answer = lambdas.ws_disconnect(load_event("websocket_disconnect.json"), context("WsDisconnectFunction"))

    assert answer == {"statusCode": 200, "body": ""}
    assert connections(aws) == {("R1xe8cx0IAMCJ3Q=", f"team#{TEAM}", TEAM)}


def test_ws_connect_past_the_teams_cap_is_a_429_that_writes_nothing(aws: Provisioned,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A team holds at most MAX_LIVE_CONNECTIONS_PER_TEAM connections open (2 here): the stream's
    dispatcher reads every connection row of a team for each batch of its changes."""
    monkeypatch.setattr(container().live_access, "max_connections", 2)
    key = api_key()
    events = []
    for n in range(3):
        event = connect_event(key)
        event["requestContext"]["connectionId"] = f"conn-{n}="
        events.append(event)
    assert [lambdas.ws_connect(e, context("WsConnectFunction"))["statusCode"] for e in events[:2]] == [200, 200]
    other_team = connect_event(api_key("team-b"))
    other_team["requestContext"]["connectionId"] = "conn-b="

    answer = lambdas.ws_connect(events[2], context("WsConnectFunction"))

    assert answer == {"statusCode": 429, "body": json.dumps(
        {"error": "A team may hold at most 2 live connections open: close one first"})}
    assert {c for c, _, _ in connections(aws)} == {"conn-0=", "conn-1="}
    assert lambdas.ws_connect(other_team, context("WsConnectFunction"))["statusCode"] == 200  # its own count
    disconnect = load_event("websocket_disconnect.json")
    disconnect["requestContext"]["connectionId"] = "conn-0="
    assert lambdas.ws_disconnect(disconnect, context("WsDisconnectFunction"))["statusCode"] == 200
    assert lambdas.ws_connect(events[2], context("WsConnectFunction"))["statusCode"] == 200


def pushed_to_connections(aws: Provisioned) -> dict[str, bytes]:
    """What moto's API Gateway management API received, by connection id (moto keeps the id as
    it appeared, URL-encoded, in the PostToConnection path)."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
    return {unquote(connection_id): connection.data for connection_id, connection in backend.connections.items()}


def test_a_task_change_is_pushed_to_its_teams_connection(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """$connect, then the stream's MODIFY of one of the team's tasks: on_task_change posts the
    task's new state to the connection through the API Gateway management API (moto's)."""
    monkeypatch.setenv("WEBSOCKET_MANAGEMENT_URL", WS_MANAGEMENT_URL)
    reset_container()
    connection = load_event("websocket_connect.json")["requestContext"]["connectionId"]
    assert lambdas.ws_connect(connect_event(api_key()), context("WsConnectFunction"))["statusCode"] == 200
    record = stream_record(aws, "MODIFY")

    answer = lambdas.on_task_change({"Records": [record]}, context("NotifierFunction", 60))

    assert answer == {"batchItemFailures": []}
    message = json.loads(pushed_to_connections(aws)[connection])
    assert (message["task_id"], message["status"]) == (record["dynamodb"]["NewImage"]["id"]["S"], "completed")
    assert message["result"]["statusCode"] == 200
