"""The floor that boto3 and moto set: the CPU of the five AWS calls every task makes, with none of
Taskhook's own work around them.

The five calls are:
- the API's key lookup (GetItem on the keys table);
- the create's SendMessage (the message carries the task) and PutItem (conditional);
- the executor's claim and end: two conditional UpdateItems that return the row.

Each call is the request the stack sends (tests/functional/test_bench_floor.py compares them): the
same expressions, the same kinds of value, `ReturnConsumedCapacity`. A plain boto3 client in this
thread makes each one `calls` times. The rows are copies of rows the stack stored in this run.

The calls go to an emulator of the floor's own: `python -m infra.emulator`, which is moto with the
local stack's changes, on an empty account, without the stack's snapshots (the stack's persistence,
not moto's cost). The stack's processes and the peers are frozen (SIGSTOP) meanwhile.

CPU is counted for the client's thread and for the emulator's process. Their sum per task is what a
task costs if Taskhook's own work cost nothing: HTTP handling, validation, the target call, the
stream, notifications and batch calls. The harness measures the floor right after each burst of the
stack, so the two are read at the same machine speed. Issue 17's budget (20 CPU ms a task, for 100
tasks/s on two cores) is judged against it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from ..load import ApiClient
from ..payloads import json_document
from ..stack import ROOT, clean_env, free_port
from ..system import cpu_seconds, speed_probe
from . import Bench, frozen
from .api import FAR_FUTURE
from .e2e import ANSWER_BYTES, task_body

# The calls every task makes, once each, in the order they are measured (a row is put before it is
# updated).
CALLS = ("GetItem", "SendMessage", "PutItem", "UpdateItem claim", "UpdateItem end")
WARM_UP = 30
DELAY_ONLY = frozenset({"delayUntil", "delayedShard", "dueAt"})
REGION = "us-east-1"


def run(bench: Bench, calls: int) -> dict[str, Any]:
    stored = _stored(bench)
    with _own_emulator() as (url, pid):
        dynamodb, sqs = (_client(service, url) for service in ("dynamodb", "sqs"))
        tasks = twin(dynamodb, bench.stack.boto("dynamodb"), bench.stack.state["env"]["TASKS_TABLE"], "tasks")
        keys = twin(dynamodb, bench.stack.boto("dynamodb"), bench.stack.state["env"]["API_KEYS_TABLE"], "keys")
        dynamodb.put_item(TableName=keys, Item=stored["key"])
        queue = sqs.create_queue(QueueName="lane")["QueueUrl"]
        made = calls_of(dynamodb, sqs, tasks, keys, queue, stored["row"], stored["key"], stored["task"])
        per_call: dict[str, Any] = {}
        with bench.alone("taskhook"), frozen(list(bench.taskhook_pids().values())):
            probe_before = speed_probe()
            for name in CALLS:
                for i in range(WARM_UP):
                    made[name](f"warm-{i}")
                emulator_before, client_before = _cpu(pid), time.thread_time()
                for i in range(calls):
                    made[name](f"row-{i}")
                client, emulator = time.thread_time() - client_before, _cpu(pid) - emulator_before
                per_call[name] = {"clientMs": round(1000 * client / calls, 3),
                                  "emulatorMs": round(1000 * emulator / calls, 3)}
            probe_after = speed_probe()
    client_ms = sum(c["clientMs"] for c in per_call.values())
    emulator_ms = sum(c["emulatorMs"] for c in per_call.values())
    return {"calls": calls, "perCall": per_call, "speedProbeMs": [probe_before, probe_after],
            "perTaskMs": {"client": round(client_ms, 2), "emulator": round(emulator_ms, 2),
                          "total": round(client_ms + emulator_ms, 2)},
            "tasksPerSecondOnTwoCores": round(2000 / (client_ms + emulator_ms), 1),
            "tasksPerSecondOnTheEmulatorsCore": round(1000 / emulator_ms, 1)}


def _stored(bench: Bench) -> dict[str, Any]:
    """What the stack stored for a task like the e2e scenario's (due in 20 days, then cancelled): its
    row, as a pending one, the task as the create answered it, and the row of the key it used."""
    client = ApiClient(bench.stack.url, bench.key)
    code, data = client.create({**task_body(f"{bench.target.base}/floor/row"), "delayUntil": FAR_FUTURE})
    if code != 201:
        raise RuntimeError(f"floor: the create answered {code}")
    task = data["task"]
    dynamodb, env = bench.stack.boto("dynamodb"), bench.stack.state["env"]
    row = dynamodb.get_item(TableName=env["TASKS_TABLE"], Key={"id": {"S": task["id"]}},
                            ConsistentRead=True)["Item"]  # as stored: read before the cancel changes it
    cancelled, _ = client.request("POST", f"/v1/tasks/{task['id']}/cancel")
    if cancelled != 200:
        raise RuntimeError(f"floor: the cancel answered {cancelled}")
    key = next(item for item in dynamodb.scan(TableName=env["API_KEYS_TABLE"])["Items"]
               if item.get("teamId") == row["teamId"])
    return {"row": pending_row(row), "task": carried_task(task, row), "key": key}


def pending_row(delayed: dict[str, Any]) -> dict[str, Any]:
    """The row of a task due now, from a delayed one's: pending, without the delay's attributes (so
    off the delayed index)."""
    return {**{k: v for k, v in delayed.items() if k not in DELAY_ONLY}, "status": {"S": "pending"}}


def carried_task(task: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The task as a create's message carries it, from the create's answer and the stored row: pending,
    with the row's versions and `sentAtCreate`."""
    return {**task, "status": "pending", "version": int(row.get("version", {"N": "1"})["N"]),
            "statusVersion": int(row.get("statusVersion", {"N": "1"})["N"]), "sentAtCreate": True}


def twin(dynamodb: Any, source_dynamodb: Any, source: str, name: str) -> str:
    """A table called `name` with the keys, indexes and stream of `source` (read with the other client)."""
    described = source_dynamodb.describe_table(TableName=source)["Table"]
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


def calls_of(dynamodb: Any, sqs: Any, tasks: str, keys: str, queue: str, row: dict[str, Any],
             key: dict[str, Any], task: dict[str, Any]) -> dict[str, Callable[[str], Any]]:
    """Each call of CALLS as the stack makes it, for the task of one id: PutItem first, then the
    claim and the end, in that order. The expressions are the ones PynamoDB writes for the stack."""
    answer = {"B": zlib.compress(json.dumps({"statusCode": 200, "headers": {"content-type": "application/json"},
                                             "body": json_document(ANSWER_BYTES)}).encode())}
    team = row["teamId"]["S"]

    def update(task_id: str, expression: str, condition: str, names: list[str], values: list[Any]) -> Any:
        return dynamodb.update_item(
            TableName=tasks, Key={"id": {"S": task_id}}, ReturnValues="ALL_NEW", ReturnConsumedCapacity="TOTAL",
            UpdateExpression=expression, ConditionExpression=condition,
            ExpressionAttributeNames={f"#{i}": n for i, n in enumerate(names)},
            ExpressionAttributeValues={f":{i}": v for i, v in enumerate(values)})

    def claim(task_id: str) -> Any:
        now = {"S": "2026-12-03T00:00:00.000Z"}
        return update(
            task_id, "SET #2 = if_not_exists (#2, :2) + :3, #3 = if_not_exists (#2, :4) + :5, #1 = :6, #4 = :7, "
                     "#5 = :8, #6 = :9, #0 = :10, #7 = :11, #8 = :12, #9 = :13 REMOVE #10, #11",
            "((#0 IN (:0) AND attribute_not_exists (#1)) AND (attribute_not_exists (#2) OR #2 = :1))",
            ["status", "claimToken", "version", "statusVersion", "claimedAt", "startedAt", "updatedAt",
             "teamPhase", "activeShard", "deadlineAt", "delayedShard", "dueAt"],
            [{"S": "pending"}, row.get("version", {"N": "1"}), {"N": "1"}, {"N": "1"}, {"N": "1"}, {"N": "1"},
             {"S": f"claim-{task_id}"}, now, now, now, {"S": "processing"}, {"S": f"{team}#open"},
             {"S": f"{team}#3"}, {"S": "2026-12-03T00:00:10.000Z"}])

    def end(task_id: str) -> Any:
        now = {"S": "2026-12-03T00:00:01.000Z"}
        return update(
            task_id, "SET #2 = if_not_exists (#2, :2) + :3, #3 = if_not_exists (#2, :4) + :5, #4 = :6, #5 = :7, "
                     "#0 = :8, #6 = :9, #7 = :10, #8 = :11 REMOVE #1, #9, #10, #11, #12, #13, #14",
            "(#0 IN (:0) AND #1 = :1)",
            ["status", "claimToken", "version", "statusVersion", "completedAt", "updatedAt", "teamPhase",
             "resultZ", "expiresAt", "result", "error", "delayedShard", "dueAt", "activeShard", "deadlineAt"],
            [{"S": "processing"}, {"S": f"claim-{task_id}"}, {"N": "1"}, {"N": "1"}, {"N": "1"}, {"N": "1"},
             now, now, {"S": "completed"}, {"S": f"{team}#completed"}, answer, {"N": "1767225600"}])

    return {
        "GetItem": lambda _task_id: dynamodb.get_item(TableName=keys, Key={"keyHash": key["keyHash"]},
                                                      ConsistentRead=False, ReturnConsumedCapacity="TOTAL"),
        "SendMessage": lambda task_id: sqs.send_message(
            QueueUrl=queue, DelaySeconds=0, MessageBody=json.dumps({"taskId": task_id,
                                                                    "task": {**task, "id": task_id}})),
        "PutItem": lambda task_id: dynamodb.put_item(
            TableName=tasks, Item={**row, "id": {"S": task_id}}, ReturnConsumedCapacity="TOTAL",
            ConditionExpression="attribute_not_exists (#0)", ExpressionAttributeNames={"#0": "id"}),
        "UpdateItem claim": claim,
        "UpdateItem end": end,
    }


def _client(service: str, url: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id="floor",
                        aws_secret_access_key="floor")  # noqa: S106 - the emulator checks none


def _cpu(pid: int) -> float:
    seconds = cpu_seconds(pid)
    if seconds is None:
        raise RuntimeError("floor: the emulator is gone")
    return seconds


@contextlib.contextmanager
def _own_emulator() -> Iterator[tuple[str, int]]:
    """`python -m infra.emulator` on a free port, with no data directory; stopped afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "infra.emulator", "-p", str(port)], cwd=ROOT,
                               env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("floor: the emulator did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
