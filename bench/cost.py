"""AWS requests per task and what a million tasks cost on AWS, from the counted calls.

Approximations (printed in the report):
- DynamoDB: one request unit per operation (GetItem/Query/Scan/BatchGetItem = read,
  PutItem/UpdateItem/DeleteItem/BatchWriteItem = write). Real units depend on item size (1 KB
  per write unit, 4 KB per read unit), read consistency (an eventually consistent read is half a
  unit) and GSI write amplification (the tasks table has 4 GSIs projecting ALL attributes: a
  transition that rewrites `teamStatus` also writes byTeam and byTeamStatus), so the DynamoDB
  write figure is a lower bound.
- SQS: every request is billed, including the runner's ReceiveMessage/DeleteMessageBatch (on
  AWS, Lambda's event source mapping makes those on your bill); empty receives are not per-task
  (on AWS the mapping long-polls: a fixed cost per hour, not per task) and are listed apart.
- DynamoDB Streams reads by the runner stand for Lambda's stream trigger, which AWS does not bill.
- Lambda: the invocations counted locally (one per API request; one per batch the runner handed a
  handler) and GB-seconds from their local wall time x the template's MemorySize. Local durations
  include the emulator's latency, not DynamoDB's.
- API Gateway: one REST request per create (the bench's clients do not poll).
- KMS: every request billed (Decrypt of a vault token in the executor: one per token per process
  until it rotates, cached by ciphertext; Encrypt when a token is stored). The key's monthly fee
  is not per task.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_PUTS = {"PutObject", "CopyObject", "ListObjectsV2", "CreateMultipartUpload", "UploadPart"}


def load_prices() -> dict[str, Any]:
    return json.loads(PRICES_FILE.read_text())  # type: ignore[no-any-return]


def memory_gb() -> float:
    from infra.template import load_template

    template = load_template()
    return float(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)) / 1024


def billed_as(service: str, operation: str) -> str | None:
    """The price-table entry one call is billed under (None: not billed per request)."""
    if service == "dynamodb":
        if operation in DYNAMODB_READS:
            return "dynamodb.readRequestUnit"
        if operation in DYNAMODB_WRITES:
            return "dynamodb.writeRequestUnit"
        return None  # control plane (DescribeTable, ...)
    if service == "dynamodbstreams":
        return "dynamodbstreams.lambdaTriggerRead"
    if service == "sqs":
        return "sqs.request"
    if service == "s3":
        return "s3.putRequest" if operation in S3_PUTS else "s3.getRequest"
    if service == "kms":
        return "kms.request"  # the Token Vault's Decrypt (executor), Encrypt (API), webhook secrets
    return None


def function_name(function: str) -> str:
    return {"": "runner (event source mappings)", "api": "api"}.get(function, function)


def per_task(calls: dict[str, Any], tasks: int) -> dict[str, Any]:
    """Per-task requests by function/service/operation, and the cost of a million such tasks."""
    prices = load_prices()
    table = prices["prices"]
    rows = []
    units: dict[str, float] = defaultdict(float)
    empty = calls.get("emptyReceives", {})
    for key, count in sorted(calls["calls"].items()):
        function, service, operation = key.split("|")
        idle = empty.get(key, 0)
        billed = count - idle
        entry = billed_as(service, operation)
        rows.append({"function": function_name(function), "service": service, "operation": operation,
                     "perTask": round(billed / tasks, 4), "emptyReceivesPerTask": round(idle / tasks, 4),
                     "billedAs": entry})
        if entry:
            units[entry] += billed / tasks
    invocations = calls.get("invocations", {})
    lambda_requests = sum(v["count"] for v in invocations.values()) / tasks
    gb_seconds = sum(v["seconds"] for v in invocations.values()) * memory_gb() / tasks
    units["lambda.request"] += lambda_requests
    units["lambda.arm64.gbSecond"] += gb_seconds
    units["apigateway.rest.request"] += invocations.get("api", {}).get("count", 0) / tasks
    cost_lines = {}
    for entry, amount in units.items():
        price = table[entry]
        cost_lines[entry] = {"perTask": round(amount, 5),
                             "usdPerMillionTasks": round(amount * 1_000_000 * price["usd"] / price["per"], 4)}
    by_service: dict[str, float] = defaultdict(float)
    for row in rows:
        by_service[row["service"]] += row["perTask"]
    return {
        "tasks": tasks,
        "requests": rows,
        "requestsPerTaskByService": {k: round(v, 3) for k, v in sorted(by_service.items())},
        "awsRequestsPerTask": round(sum(r["perTask"] for r in rows), 3),
        "billedRequestsPerTask": round(sum(r["perTask"] for r in rows if r["billedAs"] and
                                           not r["billedAs"].startswith("dynamodbstreams")), 3),
        "lambda": {fn: {"invocationsPerTask": round(v["count"] / tasks, 4),
                        "recordsPerInvocation": round(v["records"] / v["count"], 2) if v["count"] else None,
                        "msPerInvocation": round(1000 * v["seconds"] / v["count"], 1) if v["count"] else None}
                   for fn, v in sorted(invocations.items())},
        "memoryGb": memory_gb(),
        "cost": cost_lines,
        "usdPerMillionTasks": round(sum(c["usdPerMillionTasks"] for c in cost_lines.values()), 2),
        "prices": {"source": prices["source"], "asOf": prices["asOf"], "region": prices["region"]},
    }
