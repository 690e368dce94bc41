"""The floor bench scenario (bench/scenarios/floor.py) makes the five calls of a task as the stack
makes them: recorded here from a real create and run of a task like the e2e scenario's, the floor's
requests carry the same expressions, names, options and kinds of value, and run a row through the
same writes on twins of the stack's tables."""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest

import app as lambdas
from bench.scenarios import floor
from bench.scenarios.e2e import task_body
from functions import executor as executor_entry
from taskhook.container import container
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import api_key, context, create_task, receive, row, sqs_event

LANE = "QUEUE_NORMAL_URL"
SAME = ("UpdateExpression", "ConditionExpression", "ExpressionAttributeNames", "ReturnValues",
        "ReturnConsumedCapacity", "ConsistentRead", "DelaySeconds")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    real = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: Any) -> Any:
        calls.append((operation, dict(params)))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def _kinds(values: dict[str, Any]) -> dict[str, list[str]]:
    return {name: sorted(value) for name, value in values.items()}


def _shape(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the floor must match of a request: its parameters (not their tables, queues or ids), its
    expressions and names, the kind of each value, the item's attributes, the message's fields."""
    shape: dict[str, Any] = {"operation": operation, "parameters": sorted(params)}
    shape.update({k: params[k] for k in SAME if k in params})
    if "ExpressionAttributeValues" in params:
        shape["values"] = _kinds(params["ExpressionAttributeValues"])
    if "Item" in params:
        shape["item"] = _kinds(params["Item"])
    if "MessageBody" in params:
        body = json.loads(params["MessageBody"])
        shape["message"] = sorted(body), sorted(body["task"])
    return shape


def test_the_floor_makes_the_stack_s_five_calls_and_runs_a_row_through_them(
        aws: Provisioned, target: TargetServer, recorded: list[tuple[str, dict[str, Any]]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container().plan_book, "_ttl", 3600.0)  # warm, as in a running API
    monkeypatch.setattr(executor_entry, "RUN_HOLD_WINDOW", 30.0)
    key = api_key()
    create_task(key, targetUrl=target.url("/warm", [200]))
    receive(aws, aws.env[LANE])
    recorded.clear()

    body = task_body(target.url("/floor", [200]))
    task = create_task(key, **body)
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env[LANE], receive(aws, aws.env[LANE]))
    assert lambdas.execute_normal(event, context("execute_normal", 330)) == {"batchItemFailures": []}
    stack = [(op, params) for op, params in recorded if op in ("GetItem", "SendMessage", "PutItem", "UpdateItem")]
    assert [op for op, _ in stack] == ["GetItem", "SendMessage", "PutItem", "UpdateItem", "UpdateItem"]
    stored = stack[2][1]["Item"]  # the row the create put

    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    tasks = floor.twin(dynamodb, dynamodb, aws.env["TASKS_TABLE"], "floor-tasks")
    keys = floor.twin(dynamodb, dynamodb, aws.env["API_KEYS_TABLE"], "floor-keys")
    key_row = dynamodb.get_item(TableName=aws.env["API_KEYS_TABLE"], Key=stack[0][1]["Key"])["Item"]
    dynamodb.put_item(TableName=keys, Item=key_row)
    queue = sqs.create_queue(QueueName="floor-lane")["QueueUrl"]
    calls = floor.calls_of(dynamodb, sqs, tasks, keys, queue, stored, key_row, floor.carried_task(task, stored))
    assert tuple(calls) == floor.CALLS
    recorded.clear()
    for name in floor.CALLS:
        calls[name]("floor-1")
    made = [(op, params) for op, params in recorded if op != "DescribeEndpoints"]

    assert [_shape(op, params) for op, params in made] == [_shape(op, params) for op, params in stack]
    assert abs(len(made[1][1]["MessageBody"]) - len(stack[1][1]["MessageBody"])) < 200  # the carried task
    for twin, source in ((tasks, aws.env["TASKS_TABLE"]), (keys, aws.env["API_KEYS_TABLE"])):
        described, copied = (dynamodb.describe_table(TableName=t)["Table"] for t in (source, twin))
        assert copied["KeySchema"] == described["KeySchema"]
        assert [i["IndexName"] for i in copied.get("GlobalSecondaryIndexes", [])] == [
            i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])]
        assert copied.get("StreamSpecification") == described.get("StreamSpecification")
    item = dynamodb.get_item(TableName=tasks, Key={"id": {"S": "floor-1"}})["Item"]
    assert item["status"] == {"S": "completed"} and "claimToken" not in item
    assert item["version"] == row(aws, task["id"])["version"]  # the same two steps as the stack's row


def test_a_delayed_row_becomes_a_pending_one() -> None:
    delayed = {"id": {"S": "t"}, "status": {"S": "delayed"}, "dueAt": {"S": "x"}, "delayedShard": {"S": "s"},
               "delayUntil": {"S": "y"}, "teamId": {"S": "team"}}
    assert floor.pending_row(delayed) == {"id": {"S": "t"}, "status": {"S": "pending"}, "teamId": {"S": "team"}}
