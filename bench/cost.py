"""AWS requests per task and what a million tasks cost on AWS, from the counted calls and the
capacity units of the items the stack actually read and wrote.

Approximations (printed in the report):
- DynamoDB: capacity units from DynamoDB's documented rules (bench/capacity.py) on the actual items
  (bench/units.py): 1 KB per write unit and 4 KB per read unit, rounded up per item; every index a
  write touches, at its projected size; a key change as a delete plus a put; eventually consistent
  reads at half; transactions twice. The tasks table's writes are priced from its stream's old and
  new images, keeping the records of the run's own tasks; every other call (reads, other tables,
  failed conditions) in the process that made it, over the run's window (so the sweep's and the
  pollers' background calls of that window are in it). Provisioned capacity: the same units at the
  hourly WCU/RCU price divided by the units an hour buys at the stated utilisation.
- SQS: every request is billed, including the runner's ReceiveMessage/DeleteMessageBatch (on
  AWS, Lambda's event source mapping makes those on your bill); empty receives are not per-task
  (on AWS the mapping long-polls: a fixed cost per hour, not per task) and are listed apart.
- DynamoDB Streams reads by the runner stand for Lambda's stream trigger, which AWS does not bill.
- Lambda requests: the invocations counted locally (one per API request; one per batch the runner
  handed a handler). Lambda duration, two figures: the estimate the totals use = the CPU seconds the
  stack's api and runner processes spent per task (measured on a whole core; the runner's include
  the local pollers' work, so it is high), divided by the share of a vCPU the template's MemorySize
  buys (one vCPU at 1,769 MB: at 512 MB a CPU-bound millisecond bills about 3.5) + every AWS call
  made inside an invocation x a typical in-region latency (prices.json `assumptions`; calls of one
  batch run concurrently on AWS, so the serial sum is high too), x the template's MemorySize; and
  the local wall time of the invocations x MemorySize (moto's latency in it, which is not AWS's,
  on whole cores, which Lambda's 512 MB is not). The target's answer
  time is not in either (the bench's target answers on loopback at once): each 100 ms a customer's
  endpoint takes adds 0.1 s x MemorySize per task, less when a batch's calls overlap.
- API Gateway: one request per create (the bench's clients do not poll and fetch no result),
  priced as the API type template.yaml deploys (REST: `AWS::Serverless::Api`, a function's `Api`
  event or `AWS::ApiGateway::RestApi`; HTTP API: `AWS::Serverless::HttpApi`, an `HttpApi` event or
  an `AWS::ApiGatewayV2::Api` with ProtocolType HTTP), the other shown beside it. The Chalice deploy
  path (`make deploy-chalice`) always deploys a REST API. Data transfer out is not counted.
- KMS: every request billed (Decrypt of a vault token in the executor: one per token per process
  until it rotates, cached by ciphertext; Encrypt when a token is stored). The key's monthly fee
  is not per task. S3: every request billed (a body over the inline limit, provider outputs);
  storage is not per request and not counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")
DYNAMODB_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_PUTS = {"PutObject", "CopyObject", "ListObjectsV2", "CreateMultipartUpload", "UploadPart"}
WRITE_UNIT, READ_UNIT = "dynamodb.writeRequestUnit", "dynamodb.readRequestUnit"
API_ENTRY = {"rest": "apigateway.rest.request", "http": "apigateway.http.request"}
STACK_PROCESSES = ("api", "runner")  # the processes that run the functions' code locally
SECONDS_PER_HOUR = 3600


def load_prices() -> dict[str, Any]:
    return json.loads(PRICES_FILE.read_text())  # type: ignore[no-any-return]


def memory_gb() -> float:
    from infra.template import load_template

    template = load_template()
    return float(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)) / 1024


def vcpu_share(gb: float, assumptions: Mapping[str, Any]) -> float:
    """The share of one vCPU a function of `gb` gets: Lambda allocates CPU in proportion to memory,
    one vCPU at 1,769 MB (prices.json `lambdaVcpuMemoryMb`), so a CPU-bound millisecond measured on
    a whole core takes 1 / share milliseconds of billed duration below that."""
    return min(1.0, gb * 1024 / float(assumptions["lambdaVcpuMemoryMb"]["value"]))


def deployed_api(template: Mapping[str, Any] | None = None) -> str:
    """"rest" or "http": the API type template.yaml deploys for the task API (REST when both)."""
    if template is None:
        from infra.template import load_template

        template = load_template()
    kinds = set()
    for resource in template.get("Resources", {}).values():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            kinds.add("rest")
        elif kind == "AWS::Serverless::HttpApi" or (kind == "AWS::ApiGatewayV2::Api"
                                                     and props.get("ProtocolType") == "HTTP"):
            kinds.add("http")
        elif kind == "AWS::Serverless::Function":
            for event in (props.get("Events") or {}).values():
                kinds.add({"Api": "rest", "HttpApi": "http"}.get(event.get("Type"), ""))
    kinds.discard("")
    return "rest" if "rest" in kinds or not kinds else "http"


def billed_as(service: str, operation: str) -> str | None:
    """The price-table entry one call is billed under (None: not billed per request). DynamoDB
    calls are billed by their capacity units, not per call: see `dynamodb_units`."""
    if service == "dynamodb":
        if operation in DYNAMODB_READS:
            return READ_UNIT
        if operation in DYNAMODB_WRITES:
            return WRITE_UNIT
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


def dynamodb_units(calls: Mapping[str, Any], stream: Mapping[str, Any] | None, tasks: int) -> dict[str, Any]:
    """Capacity units per task by table and index ("" = the table itself), writes and reads, from
    the call log's priced calls and the run's stream records."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: {"write": 0.0, "read": 0.0}))
    for key, units in calls.get("dynamoUnits", {}).items():
        _function, name, index, kind = key.split("|")
        table[name][index][kind] += units / tasks
    for key, units in (stream or {}).get("units", {}).items():
        name, index, kind = key.split("|")
        table[name][index][kind] += units / tasks
    rounded = {name: {index: {k: round(v, 4) for k, v in entry.items()} for index, entry in sorted(indexes.items())}
               for name, indexes in sorted(table.items())}
    notes: dict[str, float] = defaultdict(float)
    for key, count in calls.get("dynamoNotes", {}).items():
        _function, name, operation, note = key.split("|")
        notes[f"{name} {operation}: {note}"] += count / tasks
    changes = {change: {"perTask": round(c["count"] / tasks, 4),
                        "table": round(c["table"] / max(1, c["count"]), 2),
                        "indexes": {i: round(u / max(1, c["count"]), 2) for i, u in sorted(c["indexes"].items())},
                        "itemBytesMax": c["itemBytesMax"]}
               for change, c in (stream or {}).get("changes", {}).items()}
    return {
        "byTable": rounded,
        "writeUnitsPerTask": round(sum(e["write"] for t in table.values() for e in t.values()), 3),
        "readUnitsPerTask": round(sum(e["read"] for t in table.values() for e in t.values()), 3),
        "notesPerTask": {k: round(v, 4) for k, v in sorted(notes.items())},
        "tasksTableChanges": changes,
        "streamRecordsPerTask": round((stream or {}).get("records", 0) / tasks, 3),
        "largestItems": dict(sorted({**calls.get("largestItems", {}), **(stream or {}).get("largest", {})}.items())),
    }


def _line(prices: Mapping[str, Any], entry: str, amount: float) -> dict[str, float]:
    price = prices[entry]
    usd = amount * 1_000_000 * price["usd"] / price["per"]
    return {"perTask": round(amount, 5), "usdPerMillionTasks": round(usd, 4)}


def lambda_duration(calls: Mapping[str, Any], tasks: int, cpu_seconds: Mapping[str, float | None] | None,
                    assumptions: Mapping[str, Any], gb: float) -> dict[str, Any]:
    """Seconds of Lambda duration per task: the estimate (CPU stretched by the function's vCPU share
    at `gb`, + calls x assumed latency) and the local wall time."""
    invocations = calls.get("invocations", {})
    wall = sum(v["seconds"] for v in invocations.values()) / tasks
    latency_ms = assumptions["awsCallLatencyMs"]["value"]
    in_invocations = 0.0
    for key, count in calls["calls"].items():
        function, service, _operation = key.split("|")
        if function:  # a call some function made (not the local pollers')
            in_invocations += (count - calls.get("emptyReceives", {}).get(key, 0)) \
                * latency_ms.get(service, latency_ms["other"]) / 1000
    result: dict[str, Any] = {"wallSecondsPerTask": round(wall, 5),
                              "callLatencySecondsPerTask": round(in_invocations / tasks, 5)}
    if cpu_seconds:
        cpu = sum(cpu_seconds.get(p) or 0.0 for p in STACK_PROCESSES) / tasks
        share = vcpu_share(gb, assumptions)
        result["cpuSecondsPerTask"] = round(cpu, 5)
        result["vcpuShare"] = round(share, 4)
        result["estimateSecondsPerTask"] = round(cpu / share + in_invocations / tasks, 5)
    return result


def per_task(calls: dict[str, Any], tasks: int, stream: Mapping[str, Any] | None = None,
             cpu_seconds: Mapping[str, float | None] | None = None,
             sizes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per-task requests by function/service/operation, DynamoDB units by table and index, and the
    cost of a million such tasks: on demand and provisioned, with the API type deployed."""
    prices = load_prices()
    table = prices["prices"]
    assumptions = prices["assumptions"]
    rows = []
    units: dict[str, float] = defaultdict(float)
    empty = calls.get("emptyReceives", {})
    honest = "dynamoUnits" in calls
    for key, count in sorted(calls["calls"].items()):
        function, service, operation = key.split("|")
        idle = empty.get(key, 0)
        billed = count - idle
        entry = billed_as(service, operation)
        rows.append({"function": function_name(function), "service": service, "operation": operation,
                     "perTask": round(billed / tasks, 4), "emptyReceivesPerTask": round(idle / tasks, 4),
                     "billedAs": entry})
        if entry and not (honest and service == "dynamodb"):
            units[entry] += billed / tasks
    dynamo = dynamodb_units(calls, stream, tasks) if honest else None
    if dynamo:
        units[WRITE_UNIT] += dynamo["writeUnitsPerTask"]
        units[READ_UNIT] += dynamo["readUnitsPerTask"]
    invocations = calls.get("invocations", {})
    units["lambda.request"] += sum(v["count"] for v in invocations.values()) / tasks
    gb = memory_gb()
    duration = lambda_duration(calls, tasks, cpu_seconds, assumptions, gb)
    seconds = duration.get("estimateSecondsPerTask", duration["wallSecondsPerTask"])
    units["lambda.arm64.gbSecond"] += seconds * gb
    api = deployed_api()
    api_requests = invocations.get("api", {}).get("count", 0) / tasks
    units[API_ENTRY[api]] += api_requests
    cost_lines = {entry: _line(table, entry, amount) for entry, amount in sorted(units.items())}
    on_demand = round(sum(c["usdPerMillionTasks"] for c in cost_lines.values()), 2)
    # Provisioned: the same units, bought by the hour at the stated utilisation.
    utilisation = assumptions["provisionedUtilisation"]["value"]
    per_unit = {WRITE_UNIT: table["dynamodb.provisioned.wcuHour"]["usd"] / (SECONDS_PER_HOUR * utilisation),
                READ_UNIT: table["dynamodb.provisioned.rcuHour"]["usd"] / (SECONDS_PER_HOUR * utilisation)}
    provisioned_lines = {entry: {"perTask": round(units[entry], 5),
                                 "usdPerMillionTasks": round(units[entry] * 1_000_000 * usd, 4)}
                         for entry, usd in per_unit.items()}
    dynamo_on_demand = sum(cost_lines.get(e, {}).get("usdPerMillionTasks", 0.0) for e in per_unit)
    provisioned = round(on_demand - dynamo_on_demand
                        + sum(c["usdPerMillionTasks"] for c in provisioned_lines.values()), 2)
    other_api = "http" if api == "rest" else "rest"
    api_delta = _line(table, API_ENTRY[other_api], api_requests)["usdPerMillionTasks"] \
        - cost_lines[API_ENTRY[api]]["usdPerMillionTasks"]
    wall_delta = (duration["wallSecondsPerTask"] - seconds) * memory_gb() * 1_000_000 \
        * table["lambda.arm64.gbSecond"]["usd"] / table["lambda.arm64.gbSecond"]["per"]
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
        "lambdaDuration": duration,
        "memoryGb": memory_gb(),
        "dynamodb": dynamo,
        "dynamodbSource": "capacity units of the items (bench/units.py)" if honest else "one unit per call",
        "sizes": dict(sizes or {}),
        "api": {"deployed": api, "other": other_api, "chalice": "rest"},
        "cost": cost_lines,
        "provisionedDynamodb": provisioned_lines,
        "usdPerMillionTasks": on_demand,
        "usdPerMillionTasksProvisioned": provisioned,
        "usdPerMillionTasksOtherApi": {"onDemand": round(on_demand + api_delta, 2),
                                       "provisioned": round(provisioned + api_delta, 2)},
        "usdPerMillionTasksLambdaWallTime": {"onDemand": round(on_demand + wall_delta, 2),
                                             "provisioned": round(provisioned + wall_delta, 2)},
        "prices": {"source": prices["source"], "asOf": prices["asOf"], "region": prices["region"]},
    }
