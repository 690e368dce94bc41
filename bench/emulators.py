"""Per-operation latency of the two local emulators, side by side: the embedded one (moto's server,
`python -m infra.emulator`, what `make run` starts) and LocalStack in host mode (what
`make test-localstack` starts; or the one AWS_ENDPOINT_URL names).

PutItem, GetItem, conditional UpdateItem, SendMessage, ReceiveMessage and GetRecords, each called
`--calls` times in a row by one client on a table with a stream and a standard queue of its own.
Prints a table (p50 / p95 in ms) and writes bench/emulators.json.

    make bench-emulators            # or: .venv/bin/python -m bench.emulators --calls 200
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

from bench.stack import clean_env, external_endpoint, free_port
from infra.local_stack import local_credentials, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ("PutItem", "GetItem", "UpdateItem (conditional)", "SendMessage", "ReceiveMessage", "GetRecords")
REGION = "us-east-1"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Probe:
    """One table (with a stream) and one queue in an emulator; times each operation."""

    def __init__(self, clients: Callable[[str], Any]) -> None:
        self.ddb, self.sqs, self.streams = clients("dynamodb"), clients("sqs"), clients("dynamodbstreams")
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.table = name
        described = self.ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        self.ddb.get_waiter("table_exists").wait(TableName=name)
        self.stream_arn = described["LatestStreamArn"]
        deadline = time.monotonic() + 60
        while self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["StreamStatus"] != "ENABLED":
            if time.monotonic() > deadline:
                raise RuntimeError("the stream never became ENABLED")
            time.sleep(0.2)
        self.queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def run(self, calls: int) -> dict[str, list[float]]:
        ids = [f"task-{i}" for i in range(calls)]
        body = json.dumps({"targetUrl": "http://127.0.0.1/x", "payload": {"n": 1}})
        steps: dict[str, Callable[[int], Any]] = {
            "PutItem": lambda i: self.ddb.put_item(TableName=self.table, Item={
                "id": {"S": ids[i]}, "status": {"S": "queued"}, "version": {"N": "1"}, "body": {"S": body}}),
            "GetItem": lambda i: self.ddb.get_item(TableName=self.table, Key={"id": {"S": ids[i]}},
                                                   ConsistentRead=True),
            "UpdateItem (conditional)": lambda i: self.ddb.update_item(
                TableName=self.table, Key={"id": {"S": ids[i]}},
                UpdateExpression="SET #s = :running, version = version + :one",
                ConditionExpression="#s = :queued AND version = :v",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":running": {"S": "running"}, ":queued": {"S": "queued"},
                                           ":one": {"N": "1"}, ":v": {"N": "1"}}),
            "SendMessage": lambda i: self.sqs.send_message(QueueUrl=self.queue, MessageBody=ids[i]),
            "ReceiveMessage": lambda i: self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=1,
                                                                 WaitTimeSeconds=0),
        }
        out: dict[str, list[float]] = {}
        for operation, step in steps.items():
            out[operation] = [self._timed(step, i) for i in range(calls)]
        out["GetRecords"] = self._get_records(calls)
        return out

    @staticmethod
    def _timed(step: Callable[[int], Any], i: int) -> float:
        started = time.perf_counter()
        step(i)
        return (time.perf_counter() - started) * 1000

    def _get_records(self, calls: int) -> list[float]:
        """GetRecords of 10 records at a time from the shard's start (2 records per task written)."""
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard,
                                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            answer = self.streams.get_records(ShardIterator=iterator, Limit=10)
            samples.append((time.perf_counter() - started) * 1000)
            iterator = answer.get("NextShardIterator") or iterator
        return samples


def client_factory(endpoint: str, secret: str) -> Callable[[str], Any]:
    return lambda service: boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                                        aws_access_key_id=secret, aws_secret_access_key=secret)


@contextlib.contextmanager
def embedded_moto() -> Iterator[str]:
    """The stack's own emulator, as `make run` starts it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="taskhook-bench-moto-") as data:
        process = subprocess.Popen([sys.executable, "-m", "infra.emulator", "-H", "127.0.0.1", "-p", str(port),
                                    "--data-dir", data], cwd=ROOT, env=clean_env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", port, 30, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextlib.contextmanager
def localstack() -> Iterator[str]:
    """The one AWS_ENDPOINT_URL names, else LocalStack started as `make test-localstack` does."""
    named = external_endpoint()
    if named:
        yield named
        return
    from infra import localstack_env

    python = localstack_env.install_runtime()
    localstack_env.prepare_dynamodb_local()
    emulator = localstack_env.LocalStackProcess(python, free_port())
    try:
        emulator.start()
        emulator.wait_healthy()
        emulator.warm_up()
        yield emulator.url
    finally:
        emulator.stop()


def measure(endpoint: str, secret: str, calls: int) -> dict[str, dict[str, float]]:
    probe = Probe(client_factory(endpoint, secret))
    probe.run(min(calls, 20))  # warm-up: connections, first-call paths (not counted)
    probe = Probe(client_factory(endpoint, secret))
    return {op: {"p50": round(statistics.median(s), 2), "p95": round(percentile(s, 0.95), 2), "calls": len(s)}
            for op, s in probe.run(calls).items()}


def report(results: dict[str, dict[str, dict[str, float]]]) -> str:
    names = list(results)
    lines = [f"{'operation':<26}" + "".join(f"{name + ' p50':>16}{name + ' p95':>16}" for name in names),
             "-" * (26 + 32 * len(names))]
    for op in OPERATIONS:
        lines.append(f"{op:<26}" + "".join(f"{results[n][op]['p50']:>13.1f} ms{results[n][op]['p95']:>13.1f} ms"
                                           for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="calls per operation and emulator")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "emulators.json")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with embedded_moto() as url:
        results["moto"] = measure(url, local_credentials({}, external=False)["AWS_SECRET_ACCESS_KEY"], args.calls)
    with localstack() as url:
        results["LocalStack"] = measure(url, local_credentials({}, external=True)["AWS_SECRET_ACCESS_KEY"],
                                        args.calls)
    print(report(results), flush=True)
    args.out.write_text(json.dumps({"calls": args.calls, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
