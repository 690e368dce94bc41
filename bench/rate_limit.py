"""What the per-team API rate limit costs: DynamoDB requests per API request and $ per million
(bench/prices.json), for the limiter itself (adapters/dynamo/rate_limits.py) on moto in-process.

    python -m bench.rate_limit            # prints the table, writes bench/rate_limit.json

Scenarios (one API request = one `admit`):
- steady: a team below its limit (requests 1.5 intervals apart), one container;
- burst: a team asking 10x its limit for 5 s, one container (most requests refused);
- burst x4: the same spread over 4 containers (4 limiters, 8 threads each, real clock);
- no limit: a team without a limit (the gate never calls the limiter: counted through the gate).
The plan read (PlanBook: one GetItem per container and team every 0.5 s) is added per scenario.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLAN_READS_PER_SECOND = 2.0  # per container and team (model/plan.py PLAN_CACHE_SECONDS = 0.5)


class Counting:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def counted(**kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
            return method(**kwargs)

        return counted


class VirtualClock:
    def __init__(self) -> None:
        self.ns = time.time_ns()

    def __call__(self) -> int:
        return self.ns


def _scenarios(table: str, client: Any) -> dict[str, dict[str, Any]]:
    from taskhook.adapters.dynamo.rate_limits import DynamoRateLimiter
    from taskhook.intake.rate_limit import RateGate
    from taskhook.model.plan import PlanBook, TeamPlan

    results: dict[str, dict[str, Any]] = {}

    def run(name: str, rps: float, burst: int, gaps: list[float], containers: int = 1) -> None:
        clock = VirtualClock()
        counting = Counting(client)
        limiter = DynamoRateLimiter(counting, table, clock=clock)
        admitted = 0
        for gap in gaps:
            clock.ns += round(gap * 1e9)
            admitted += limiter.admit(f"bench#{name}", rps, burst).allowed
        seconds = sum(gaps)
        results[name] = _row(len(gaps), admitted, counting.calls, seconds, containers)

    run("steady (10 rps limit, 6.7 rps asked)", 10, 10, [0.15] * 500)
    run("burst (10 rps limit, 100 rps asked, 1 container)", 10, 20, [0.01] * 500)

    counting = Counting(client)
    limiters = [DynamoRateLimiter(counting, table) for _ in range(4)]
    started = time.monotonic()

    def ask(i: int) -> bool:
        time.sleep((i // 32) * 0.01)  # ~100 requests a second for 5 s, in waves of 32
        return limiters[i % 4].admit("bench#x4", 10, 20).allowed

    with ThreadPoolExecutor(max_workers=32) as pool:
        admitted = sum(pool.map(ask, range(500)))
    results["burst x4 containers (10 rps limit, real clock)"] = _row(
        500, admitted, counting.calls, time.monotonic() - started, 4)

    counting = Counting(client)
    gate = RateGate(PlanBook(lambda _team: None, TeamPlan()), DynamoRateLimiter(counting, table))
    for _ in range(500):
        gate.check("unlimited")
    results["no limit (the default)"] = _row(500, 500, counting.calls, 0.0, 1)
    return results


def _row(requests: int, admitted: int, calls: Counter[str], seconds: float, containers: int) -> dict[str, Any]:
    from bench.cost import load_prices

    prices = load_prices()["prices"]
    write = prices["dynamodb.writeRequestUnit"]["usd"] / prices["dynamodb.writeRequestUnit"]["per"]
    read = prices["dynamodb.readRequestUnit"]["usd"] / prices["dynamodb.readRequestUnit"]["per"]
    writes = calls["update_item"]
    reads = calls["get_item"]
    # The plan: an eventually consistent GetItem (half a read unit) per container every 0.5 s.
    plan_reads = PLAN_READS_PER_SECOND * seconds * containers if seconds else 0.0
    usd = writes * write + reads * read + plan_reads * 0.5 * read
    return {
        "requests": requests, "admitted": admitted, "limiterWrites": writes, "limiterReads": reads,
        "planReads": round(plan_reads, 1),
        "awsRequestsPerRequest": round((writes + reads + plan_reads) / requests, 3),
        "writesPerAdmitted": round(writes / admitted, 3) if admitted else None,
        "usdPerMillionRequests": round(usd / requests * 1e6, 4),
    }


def main() -> int:
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = "bench-limits"
        client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}])
        results = _scenarios(table, client)
    (HERE / "rate_limit.json").write_text(json.dumps(results, indent=2) + "\n")
    for name, row in results.items():
        print(f"{name:52} {json.dumps(row)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
