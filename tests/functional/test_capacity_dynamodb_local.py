"""bench/capacity.py against DynamoDB Local's own `ConsumedCapacity` (ReturnConsumedCapacity=INDEXES):
the emulator LocalStack uses (.taskhook/localstack/lib, unpacked by infra/localstack_env.py), run
here on its own with the system Java. Skipped when Java or the jar is absent.

1. Item sizes, exactly: an item is padded until DynamoDB Local bills it two write units; at that
   point the item is 1,025 bytes, and the calculator must say so too (numbers, lists, maps, sets...).
2. Each GSI rule (enter, leave, key change, in place, unprojected change) as the emulator bills it.
3. The tasks table as template.yaml declares it, written by the real repository (PynamoDB): every
   write of a task's create, claim and finish, per table and per index, as the emulator bills it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bench.capacity import (
    TASKS_TABLE,
    WriteUnits,
    item_size,
    table_from_template,
    tasks_table,
    tasks_table_properties,
    write_units,
)
from infra.local_stack import free_port, wait_for_port
from infra.localstack_env import LIB
from taskhook.adapters.dynamo.tables import build_task_model
from taskhook.adapters.dynamo.tasks import DynamoTaskRepository
from taskhook.intake.validation import CreateTaskRequest
from taskhook.model import lifecycle
from taskhook.model.attempt import Attempt, result_document
from taskhook.model.clock import iso
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

JAR_DIR = LIB / "dynamodb-local" / "2"
REGION = "us-east-1"
START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
pytestmark = pytest.mark.skipif(shutil.which("java") is None or not (JAR_DIR / "DynamoDBLocal.jar").exists(),
                                reason="DynamoDB Local needs java and .taskhook/localstack/lib (make test-localstack)")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        ["java", f"-Djava.library.path={JAR_DIR / 'DynamoDBLocal_lib'}", "-jar", str(JAR_DIR / "DynamoDBLocal.jar"),
         # -sharedDb: one database whatever the credentials (without it DynamoDB Local keeps one per
         # access key and region, and PynamoDB may sign with another test's cached credentials)
         "-inMemory", "-sharedDb", "-port", str(port)],
        cwd=JAR_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, 15.0, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "local")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)


# ---- 1. item sizes ---------------------------------------------------------------------------------

VALUES: list[dict[str, Any]] = [
    {"S": "café"}, {"N": "12345"}, {"N": "-12345"}, {"N": "0"}, {"N": "1.5"}, {"N": "123.45"},
    {"N": "1200000"}, {"N": "0.0012"}, {"N": "12345678901234567890"}, {"B": b"\x00\x01\x02"},
    {"BOOL": True}, {"NULL": True}, {"L": [{"S": "ab"}, {"N": "7"}]}, {"L": []},
    {"M": {"ab": {"S": "c"}, "n": {"M": {"x": {"BOOL": False}}}}}, {"SS": ["ab", "c"]}, {"NS": ["1", "23"]},
]


def test_item_sizes_are_dynamodb_locals(endpoint: str, credentials: None) -> None:
    ddb = client(endpoint)
    name = f"sizes-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])

    def units(item: dict[str, Any]) -> float:
        answer = ddb.put_item(TableName=name, Item=item, ReturnConsumedCapacity="TOTAL")
        return float(answer["ConsumedCapacity"]["CapacityUnits"])

    for value in VALUES:
        def padded(length: int, value: dict[str, Any] = value) -> dict[str, Any]:
            # A new key each time: a PutItem that replaces an item is billed on the larger of the two.
            return {"pk": {"S": uuid.uuid4().hex}, "v": value, "padd": {"S": "x" * length}}

        low, high = 0, 1100  # the smallest pad that makes the item cost 2 units: the item is 1,025 bytes
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if units(padded(middle)) > 1 else (middle + 1, high)
        assert item_size(padded(low)) == 1025, value


# ---- 2. index rules ----------------------------------------------------------------------------------

def test_index_rules_are_dynamodb_locals(endpoint: str, credentials: None) -> None:
    """Each GSI rule on a table with an ALL, a KEYS_ONLY and an INCLUDE index on the same keys."""
    ddb = client(endpoint)
    name = f"rules-{uuid.uuid4().hex[:8]}"
    keys = [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}]
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "g", "s")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "all", "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "keys", "KeySchema": keys, "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "some", "KeySchema": keys,
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["small"]}}])
    table = table_from_template({"Resources": {name: {"Properties": ddb.describe_table(TableName=name)["Table"]}}},
                                name)
    big, pad = "x" * 3000, {"S": "y"}
    steps: list[dict[str, Any]] = [
        {"pk": {"S": "k"}, "g": {"S": "a"}, "s": {"S": "1"}, "padd": {"S": big}},  # enters every index
        {"pk": {"S": "k"}, "g": {"S": "a"}, "s": {"S": "1"}, "padd": pad},  # shrinks in place
        {"pk": {"S": "k"}, "g": {"S": "a"}, "s": {"S": "1"}, "padd": pad},  # changes nothing
        {"pk": {"S": "k"}, "g": {"S": "a"}, "s": {"S": "1"}, "padd": pad, "small": {"S": "z"}},  # INCLUDE'd
        {"pk": {"S": "k"}, "g": {"S": "b"}, "s": {"S": "1"}, "padd": {"S": big}},  # key change, grows
        {"pk": {"S": "k"}, "padd": {"S": big}},  # leaves every index (sparse)
    ]
    old: dict[str, Any] | None = None
    for step, new in enumerate(steps):
        consumed = ddb.put_item(TableName=name, Item=new, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        billed = WriteUnits(table=int(consumed["Table"]["CapacityUnits"]), indexes={
            k: int(v["CapacityUnits"]) for k, v in consumed.get("GlobalSecondaryIndexes", {}).items()
            if v["CapacityUnits"]})
        assert billed == write_units(table, old, new), step
        old = new


# ---- 3. the tasks table, written by the repository ---------------------------------------------------

def create_tasks_table(ddb: Any, stream: bool = False) -> str:
    name = f"tasks-{uuid.uuid4().hex[:8]}"
    props = tasks_table_properties()
    names = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
    extra = {"StreamSpecification": {"StreamEnabled": True, **props["StreamSpecification"]}} if stream else {}
    ddb.create_table(TableName=name, **{k: props[k] for k in names}, **extra)
    return name


def test_the_repositorys_writes_cost_what_the_calculator_says(endpoint: str, credentials: None) -> None:
    ddb = client(endpoint)
    name = create_tasks_table(ddb)
    model = build_task_model(name, REGION, endpoint)
    repository = DynamoTaskRepository(model)
    billed: list[WriteUnits] = []

    def ask_for_indexes(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "INDEXES"

    def record(parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        if consumed:
            indexes = consumed.get("GlobalSecondaryIndexes", {})
            billed.append(WriteUnits(table=int(consumed["Table"]["CapacityUnits"]),
                                     indexes={k: int(v["CapacityUnits"]) for k, v in indexes.items()
                                              if v["CapacityUnits"]}))

    events = model._get_connection().connection.client.meta.events  # type: ignore[attr-defined]
    for operation in ("PutItem", "UpdateItem"):
        events.register(f"before-parameter-build.dynamodb.{operation}", ask_for_indexes)
        events.register(f"after-call.dynamodb.{operation}", record)

    table = tasks_table()
    for request_body, answer_bytes in ((None, 12), ("b" * 1024, 1024), (None, 10 * 1024), (None, 64 * 1024)):
        billed.clear()
        request = CreateTaskRequest(targetUrl="https://api.example.com/webhook", body=request_body)
        task = Task(id=str(uuid.uuid4()), teamId="team-0123456789", status=TaskStatus.PENDING, retryCount=0,
                    createdAt=iso(START), updatedAt=iso(START), **request.model_dump(exclude_none=True))

        def raw(task_id: str = task.id) -> dict[str, Any]:
            return ddb.get_item(TableName=name, Key={"id": {"S": task_id}})["Item"]  # type: ignore[no-any-return]

        repository.put_new(task)
        created = raw()
        claimed = repository.apply(task, lifecycle.claim(task, uuid.uuid4().hex, START + timedelta(seconds=1)))
        after_claim = raw()
        document = result_document(Attempt(200, {"content-type": "text/plain"}, b"a" * answer_bytes, 0, None),
                                   answer_bytes, None)
        repository.apply(claimed, lifecycle.finish(claimed, TaskStatus.COMPLETED, START + timedelta(seconds=2),
                                                   claimed.claimToken, lifecycle.TaskChanges(result=document)))
        finished = raw()

        computed = [write_units(table, None, created), write_units(table, created, after_claim),
                    write_units(table, after_claim, finished)]
        assert billed == computed, (request_body and len(request_body), answer_bytes)


# ---- 4. the bench's accounting (infra/aws_calls.py + bench/units.py) on the emulator's own figures -----

def reported(consumed: dict[str, Any], kind: str) -> dict[str, float]:
    """An answer's ConsumedCapacity as the call log keys its units: "table|index|write"."""
    name = consumed["TableName"]
    out = {f"{name}||{kind}": float(consumed.get("Table", consumed)["CapacityUnits"])}
    for index, units in consumed.get("GlobalSecondaryIndexes", {}).items():
        out[f"{name}|{index}|{kind}"] = float(units["CapacityUnits"])
    return {k: v for k, v in out.items() if v}


def test_the_call_logs_units_are_dynamodb_locals(endpoint: str, credentials: None, tmp_path: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call through the bench's call log, priced by it, against ReturnConsumedCapacity=INDEXES:
    a table without a stream priced in the calling process (puts, a replacing put, a growing update,
    a delete, reads both ways, an index query), and the tasks table's writes priced from its stream."""
    from botocore.client import BaseClient

    from bench.units import Layout, read_stream, stream_units
    from infra import aws_calls

    ddb = client(endpoint)
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=plain, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    tasks = create_tasks_table(ddb, stream=True)
    described = ddb.describe_table(TableName=plain)["Table"]
    plain_table = table_from_template({"Resources": {plain: {"Properties": described}}}, plain)
    layout = Layout({plain: plain_table, tasks: tasks_table()}, frozenset({tasks}))
    monkeypatch.setattr(BaseClient, "_make_api_call", BaseClient._make_api_call)  # undone after the test
    log = aws_calls.CallLog(tmp_path, "test")
    aws_calls._patch_botocore(log, layout)

    def priced(kind: str, call: Any, **params: Any) -> None:
        before = dict(log.units)
        answer = call(ReturnConsumedCapacity="INDEXES", **params)
        delta = {k[1:]: v - before.get(k, 0) for k, v in log.units.items() if v - before.get(k, 0)}
        expected = reported(answer["ConsumedCapacity"], kind)
        assert delta == {k.replace(plain, plain_table.name, 1): v for k, v in expected.items()}, params

    big, small = "x" * 2500, "y"
    priced("write", ddb.put_item, TableName=plain, Item={"pk": {"S": "a"}, "g": {"S": "1"}, "v": {"S": big}})
    priced("write", ddb.put_item, TableName=plain, Item={"pk": {"S": "a"}, "g": {"S": "2"}, "v": {"S": small}})
    priced("write", ddb.update_item, TableName=plain, Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
           ExpressionAttributeValues={":v": {"S": big * 2}})
    priced("read", ddb.get_item, TableName=plain, Key={"pk": {"S": "a"}})
    priced("read", ddb.get_item, TableName=plain, Key={"pk": {"S": "a"}}, ConsistentRead=True)
    priced("read", ddb.query, TableName=plain, IndexName="byG", KeyConditionExpression="g = :g",
           ExpressionAttributeValues={":g": {"S": "2"}})
    priced("write", ddb.delete_item, TableName=plain, Key={"pk": {"S": "a"}})

    # The tasks table: what the repository's writes consumed, against the stream's pricing.
    model = build_task_model(tasks, REGION, endpoint)
    repository = DynamoTaskRepository(model)
    billed: dict[str, float] = {}

    def ask_for_indexes(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "INDEXES"

    def record(parsed: dict[str, Any], **_: Any) -> None:
        for key, units in reported(parsed["ConsumedCapacity"], "write").items():
            billed[key] = billed.get(key, 0) + units

    events = model._get_connection().connection.client.meta.events  # type: ignore[attr-defined]
    for operation in ("PutItem", "UpdateItem"):
        events.register(f"before-parameter-build.dynamodb.{operation}", ask_for_indexes)
        events.register(f"after-call.dynamodb.{operation}", record)
    request = CreateTaskRequest(targetUrl="https://api.example.com/webhook", body="b" * 1024)
    task = Task(id=str(uuid.uuid4()), teamId="team-0123456789", status=TaskStatus.PENDING, retryCount=0,
                createdAt=iso(START), updatedAt=iso(START), **request.model_dump(exclude_none=True))
    repository.put_new(task)
    claimed = repository.apply(task, lifecycle.claim(task, uuid.uuid4().hex, START + timedelta(seconds=1)))
    document = result_document(Attempt(200, {"content-type": "application/json"}, b"a" * 3000, 0, None), 65536, None)
    repository.apply(claimed, lifecycle.finish(claimed, TaskStatus.COMPLETED, START + timedelta(seconds=2),
                                               claimed.claimToken, lifecycle.TaskChanges(result=document)))
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=REGION)
    records = read_stream(streams, ddb.describe_table(TableName=tasks)["Table"]["LatestStreamArn"])

    from_stream = stream_units(tasks_table(), records, {task.id}).ledger.units
    assert len(records) == 3
    assert {k.replace(TASKS_TABLE, tasks, 1): v for k, v in from_stream.items()} == billed
    # and the call log left those writes to the stream (not priced twice)
    assert not any(key.startswith(f"|{TASKS_TABLE}||write") for key in log.units)
