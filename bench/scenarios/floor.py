"""The floor that boto3 and moto set: the CPU of the five AWS calls every task makes, with no
Taskhook code at all.

The calls are the API's key lookup (GetItem), the create's PutItem and SendMessage, and the
executor's claim and end (two conditional UpdateItems that return the row). A plain boto3
client in this process makes each one `calls` times against this run's emulator. The table
is a twin of the tasks table (same keys, indexes and stream), and the rows are a copy of a row
the API stored in this run. The updates have the executor's shape, not its exact text.

While the floor is measured, every other process of the stack is frozen (SIGSTOP), and so are
the peers. The client's CPU is this thread's (`time.thread_time`); the emulator's is its
process's. Their sum per task is what a task costs the stack's processes if Taskhook's own work
(HTTP handling, validation, the target call, the stream, batches) cost nothing. Issue 17's
budget (20 CPU ms a task, for 100 tasks/s on two cores) is judged against it."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ..load import ApiClient
from ..system import cpu_seconds
from . import Bench, frozen
from .api import FAR_FUTURE
from .e2e import task_body

# The calls every task makes, once each, in the order they are measured (a row is put before it is
# read and updated).
CALLS = ("PutItem", "GetItem", "SendMessage", "UpdateItem claim", "UpdateItem end")
WARM_UP = 30
DELAY_ONLY = frozenset({"delayUntil", "delayedShard", "dueAt"})


def run(bench: Bench, calls: int) -> dict[str, Any]:
    stack = bench.stack
    dynamodb, sqs = stack.boto("dynamodb"), stack.boto("sqs")
    tasks_table = stack.state["env"]["TASKS_TABLE"]
    row = _stored_row(bench, dynamodb, tasks_table)
    suffix = uuid.uuid4().hex[:8]
    table = twin(dynamodb, tasks_table, f"{tasks_table}-floor-{suffix}")
    queue = sqs.create_queue(QueueName=f"taskhook-floor-{suffix}")["QueueUrl"]
    try:
        made = calls_of(dynamodb, sqs, table, queue, row)
        per_call: dict[str, Any] = {}
        with _only_the_emulator(bench):
            for name in CALLS:
                for i in range(WARM_UP):
                    made[name](f"warm-{i}")
                emulator_before, client_before = _emulator_cpu(bench), time.thread_time()
                for i in range(calls):
                    made[name](f"row-{i}")
                client, emulator = time.thread_time() - client_before, _emulator_cpu(bench) - emulator_before
                per_call[name] = {"clientMs": round(1000 * client / calls, 3),
                                  "emulatorMs": round(1000 * emulator / calls, 3)}
    finally:
        with contextlib.suppress(Exception):
            dynamodb.delete_table(TableName=table)
        with contextlib.suppress(Exception):
            sqs.delete_queue(QueueUrl=queue)
    client_ms = sum(c["clientMs"] for c in per_call.values())
    emulator_ms = sum(c["emulatorMs"] for c in per_call.values())
    return {"calls": calls, "perCall": per_call,
            "perTaskMs": {"client": round(client_ms, 2), "emulator": round(emulator_ms, 2),
                          "total": round(client_ms + emulator_ms, 2)},
            "tasksPerSecondOnTwoCores": round(2000 / (client_ms + emulator_ms), 1)}


def _stored_row(bench: Bench, dynamodb: Any, table: str) -> dict[str, Any]:
    """A pending row as the API stores it: a task like the e2e scenario's, due in 20 days."""
    code, data = ApiClient(bench.stack.url, bench.key).create(
        {**task_body(f"{bench.target.base}/floor/row"), "delayUntil": FAR_FUTURE})
    if code != 201:
        raise RuntimeError(f"floor: the create answered {code}")
    return pending_row(dynamodb.get_item(TableName=table, Key={"id": {"S": data["task"]["id"]}},
                                         ConsistentRead=True)["Item"])


def pending_row(delayed: dict[str, Any]) -> dict[str, Any]:
    """The row of a task due now, from a delayed one's: pending, without the delay's attributes (so
    off the delayed index)."""
    return {**{k: v for k, v in delayed.items() if k not in DELAY_ONLY}, "status": {"S": "pending"}}


def twin(dynamodb: Any, source: str, name: str) -> str:
    described = dynamodb.describe_table(TableName=source)["Table"]
    spec: dict[str, Any] = {"TableName": name, "KeySchema": described["KeySchema"],
                            "AttributeDefinitions": described["AttributeDefinitions"],
                            "BillingMode": "PAY_PER_REQUEST"}
    indexes = [{"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
               for i in described.get("GlobalSecondaryIndexes", [])]
    if indexes:
        spec["GlobalSecondaryIndexes"] = indexes
    if described.get("StreamSpecification"):
        spec["StreamSpecification"] = described["StreamSpecification"]
    dynamodb.create_table(**spec)
    return name


def calls_of(dynamodb: Any, sqs: Any, table: str, queue: str, row: dict[str, Any]) -> dict[str, Callable[[str], Any]]:
    """Each call of CALLS, made for the row of one id (PutItem first, then the updates, in order)."""
    version = row.get("version", {"N": "1"})
    common_names = {"#s": "status", "#v": "version", "#sv": "statusVersion", "#u": "updatedAt"}

    def update(task_id: str, expression: str, condition: str, names: dict[str, str],
               values: dict[str, Any]) -> Any:
        return dynamodb.update_item(TableName=table, Key={"id": {"S": task_id}}, ReturnValues="ALL_NEW",
                                    UpdateExpression=expression, ConditionExpression=condition,
                                    ExpressionAttributeNames={**common_names, **names},
                                    ExpressionAttributeValues={":one": {"N": "1"}, **values})

    def claim(task_id: str) -> Any:
        return update(
            task_id, "SET #v = #v + :one, #sv = #v + :one, #s = :running, #c = :token, #st = :now, #u = :now, "
                     "#d = :deadline, #a = :attempt",
            "#s IN (:pending) AND #v = :version",
            {"#c": "claimToken", "#st": "startedAt", "#d": "deadlineAt", "#a": "attempt"},
            {":running": {"S": "processing"}, ":pending": {"S": "pending"}, ":token": {"S": f"claim-{task_id}"},
             ":now": {"S": "2026-12-03T00:00:00.000Z"}, ":deadline": {"S": "2026-12-03T00:00:10.000Z"},
             ":attempt": {"N": "1"}, ":version": version})

    def end(task_id: str) -> Any:
        return update(
            task_id, "SET #v = #v + :one, #sv = #v + :one, #s = :done, #f = :now, #u = :now, #r = :result, "
                     "#e = :expires REMOVE #c, #d",
            "#s IN (:running) AND #c = :token",
            {"#f": "completedAt", "#r": "result", "#e": "expiresAt", "#c": "claimToken", "#d": "deadlineAt"},
            {":done": {"S": "completed"}, ":running": {"S": "processing"}, ":token": {"S": f"claim-{task_id}"},
             ":now": {"S": "2026-12-03T00:00:01.000Z"},
             ":result": {"M": {"statusCode": {"N": "200"}, "body": row.get("body", {"S": "{}"})}},
             ":expires": {"N": "1767225600"}})

    return {
        "PutItem": lambda task_id: dynamodb.put_item(TableName=table, Item={**row, "id": {"S": task_id}},
                                                     ConditionExpression="attribute_not_exists(id)"),
        "GetItem": lambda task_id: dynamodb.get_item(TableName=table, Key={"id": {"S": task_id}}, ConsistentRead=True),
        "SendMessage": lambda task_id: sqs.send_message(QueueUrl=queue, MessageBody=f'{{"taskId": "{task_id}"}}'),
        "UpdateItem claim": claim,
        "UpdateItem end": end,
    }


def _emulator_cpu(bench: Bench) -> float:
    return cpu_seconds(bench.taskhook_pids()["emulator"]) or 0.0


@contextlib.contextmanager
def _only_the_emulator(bench: Bench) -> Iterator[None]:
    """Every process of the stack but the emulator frozen, and the peers with them."""
    with bench.alone("taskhook"), frozen([pid for name, pid in bench.taskhook_pids().items() if name != "emulator"]):
        yield
