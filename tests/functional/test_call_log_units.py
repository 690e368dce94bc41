"""The bench's honest units, through the path the bench uses (infra/aws_calls.py pricing every
DynamoDB call in the process, bench/units.py pricing the tasks table's stream): one plain HTTP task
with a 1 KB JSON body and a 1 KB JSON answer, created through the API handler, dispatched and run
by the lane executor, in-process on moto. The per-task units must be what bench/capacity.py gives
for the same items, computed here by hand from the rows read back after each write."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

import app as lambdas
from bench import units as accounting
from bench.capacity import item_size, read_units_for, tasks_table, tasks_table_properties, write_units
from infra import aws_calls
from infra.template import load_template
from tests.support.targets import TargetServer

from .conftest import REGION, Provisioned
from .test_handlers import LANES, api_key, context, create_task, dispatched_at_create, row, sqs_event

# Realistic JSON (names, numbers, nesting), about 1 KB each.
BODY = json.dumps({"event": "order.created", "orderId": "ord_8f14e45fceea167a", "customer": {
    "id": "cus_1f0e3dad99908345", "email": "jane.doe@example.com", "name": "Jane Doe"},
    "items": [{"sku": f"SKU-{n:05d}", "quantity": n % 3 + 1, "unitPrice": 1999 + n} for n in range(14)],
    "currency": "EUR", "createdAt": "2026-12-01T10:00:00.000Z"})
ANSWER = json.dumps({"received": True, "orderId": "ord_8f14e45fceea167a", "status": "accepted", "checks": [
    {"name": f"rule-{n}", "passed": True, "score": n / 10} for n in range(20)]})


@pytest.fixture
def call_log(aws: Provisioned, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> aws_calls.CallLog:
    """The bench's call log, installed in this process for the test only."""
    monkeypatch.setattr(BaseClient, "_make_api_call", BaseClient._make_api_call)  # undone after the test
    monkeypatch.setattr(ThreadPoolExecutor, "submit", ThreadPoolExecutor.submit)
    log = aws_calls.CallLog(tmp_path, "test")
    aws_calls._patch_botocore(log, aws_calls._dynamo_layout())
    aws_calls._patch_thread_pools()
    return log


def stream_records(aws: Provisioned) -> list[dict[str, Any]]:
    arn = aws.client("dynamodb").describe_table(TableName=aws.env["TASKS_TABLE"])["Table"]["LatestStreamArn"]
    # botocore's own endpoint resolution for this service misses moto's in-process mock
    streams = boto3.client("dynamodbstreams", region_name=REGION,
                           endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
    return accounting.read_stream(streams, arn)


def test_a_plain_tasks_units_are_the_calculators_for_its_items(
        aws: Provisioned, target: TargetServer, call_log: aws_calls.CallLog) -> None:
    assert 900 < len(BODY) < 1100 and 900 < len(ANSWER) < 1100
    key = api_key()
    images: list[dict[str, Any]] = []

    token = aws_calls._function.set("api")
    try:
        task = create_task(key, targetUrl=target.url("/orders", [{"status": 200, "body": ANSWER}]), body=BODY,
                           priority=5)
    finally:
        aws_calls._function.reset(token)
    images.append(row(aws, task["id"]))
    messages = dispatched_at_create(aws, task["id"], "normal")
    token = aws_calls._function.set("app.execute_normal")
    try:
        answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[LANES["normal"]], messages),
                                        context("execute_normal", 330))
    finally:
        aws_calls._function.reset(token)
    assert answer == {"batchItemFailures": []}
    images.append(row(aws, task["id"]))
    assert images[-1]["status"] == {"S": "completed"}

    # The tasks table: every write of this task, from the stream, against the calculator on the
    # rows read back (create, then every later write; here the claim's row is the stream's own).
    records = [r for r in stream_records(aws) if r["dynamodb"]["Keys"]["id"]["S"] == task["id"]]
    table = tasks_table()
    priced = accounting.stream_units(table, records, {task["id"]})
    by_hand = [write_units(table, r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records]
    assert records[0]["dynamodb"]["NewImage"] == images[0] and records[-1]["dynamodb"]["NewImage"] == images[-1]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
    # The calculator on the two rows read back gives the create and, with the stream's claim
    # image, the finish: the same figures the stream priced.
    claimed = records[1]["dynamodb"]["NewImage"]
    assert by_hand == [write_units(table, None, images[0]), write_units(table, images[0], claimed),
                       write_units(table, claimed, images[-1])]
    assert priced.ledger.units["TasksTable||write"] == sum(u.table for u in by_hand)
    for index in (i.name for i in table.indexes):
        assert priced.ledger.units[f"TasksTable|{index}|write"] == sum(u.indexes.get(index, 0) for u in by_hand)
    assert sum(priced.ledger.units.values()) == sum(u.total for u in by_hand)
    # A 1 KB JSON body and a 1 KB JSON answer are stored compressed (adapters/dynamo/packing.py):
    # the rows stay far under the 3 KB they would take plain.
    assert "bodyZ" in images[0] and "resultZ" in images[-1]
    assert item_size(images[-1]) < 2048
    assert priced.changes["create (pending)"]["count"] == 1
    assert priced.changes["processing → completed"]["table"] == by_hand[2].table

    # The other calls, priced in the process that made them.
    units = call_log.units
    assert units["api|TasksTable||write"] == 0  # a streamed table's writes are not priced twice
    assert call_log.unit_notes["api|TasksTable|PutItem|priced from the stream"] == 1
    # No read of the task before its claim: the message carries the row (run/executor.py, CARRIED).
    # Read, it cost an eventually consistent read of the whole row.
    assert units.get("app.execute_normal|TasksTable||read", 0) == 0
    assert read_units_for(item_size(images[0]), consistent=False) == 0.5
    # The API key lookup (eventually consistent, a small item): half a unit.
    assert units["api|ApiKeysTable||read"] == 0.5
    # The caller's answers are the ones it asked for: nothing injected leaks.
    ddb = aws.client("dynamodb")
    put = ddb.put_item(TableName=aws.env["IDEMPOTENCY_TABLE"], Item={"id": {"S": "x"}, "v": {"S": "y" * 1500}})
    replaced = ddb.put_item(TableName=aws.env["IDEMPOTENCY_TABLE"], Item={"id": {"S": "x"}})
    assert "Attributes" not in put and "Attributes" not in replaced
    # A 1.5 KB item costs 2 units; the PutItem that replaces it with a tiny one is billed on the
    # larger of the two (2 again, not 1): the call log knows the old item from what it asked back.
    assert call_log.units["|IdempotencyTable||write"] == 2 + 2


def test_layout_follows_the_template(aws: Provisioned) -> None:
    """The physical names come from the functions' environment, the indexes from template.yaml:
    a table or index added to the template is priced without a change here."""
    import os

    layout = accounting.layout_from_env(load_template(), os.environ)
    tasks = layout.table(aws.env["TASKS_TABLE"])
    assert tasks.name == "TasksTable" and aws.env["TASKS_TABLE"] in layout.streamed
    assert {i.name for i in tasks.indexes} == {  # the staged indexes as the parameters' defaults leave them
        gsi["IndexName"] for gsi in tasks_table_properties()["GlobalSecondaryIndexes"]}
    assert layout.table(aws.env["API_KEYS_TABLE"]).name == "ApiKeysTable"
