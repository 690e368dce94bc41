"""API: create-task latency and requests/s with 1, 8 and 32 concurrent keep-alive clients.

The tasks carry a far-future delayUntil: the request does the same work as any create (auth,
validation, one conditional PutItem), and nothing executes them while the API is measured."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from infra import aws_calls

from ..load import ApiClient, closed_loop_for, latency_summary
from ..system import Meter
from . import Bench

FAR_FUTURE = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # within the 30-day limit


def run(bench: Bench, clients: int, seconds: float, warmup: float = 1.0) -> dict[str, Any]:
    sequence = itertools.count()

    def make_client() -> ApiClient:
        return ApiClient(bench.stack.url, bench.key)

    def work(client: ApiClient) -> tuple[float, int, bool, str]:
        # Each body is unique, so a response that shows another request's body is detected.
        url = f"{bench.target.base}/api-bench/{next(sequence)}"
        body = {"targetUrl": url, "method": "POST", "body": "{}", "delayUntil": FAR_FUTURE, "maxRetries": 3}
        started = time.perf_counter()
        error = ""
        try:
            code, data = client.create(body)
        except Exception as exc:  # noqa: BLE001 - counted as an error, by kind
            code, data, error = 0, None, type(exc).__name__
        elapsed = time.perf_counter() - started
        if code not in (0, 201):
            error = f"HTTP {code}"
        return elapsed, code, code == 201 and data["task"]["targetUrl"] != url, error

    with bench.alone("taskhook"):
        before = bench.stack.aws_counts()
        meter = Meter(bench.taskhook_pids())
        meter.start()
        results, window = closed_loop_for(seconds, clients, work, make_client, warmup=warmup)
        time.sleep(0.6)  # let the call logs flush
        usage = meter.stop()
        after = bench.stack.aws_counts()
    ok = [latency for latency, code, _, _ in results if code == 201]
    mixed = sum(1 for _, _, wrong, _ in results if wrong)
    error_kinds = Counter(error for _, _, _, error in results if error)
    calls = aws_calls.difference(after, before)
    requests_total = sum(v["count"] for k, v in calls["invocations"].items() if k == aws_calls.API_FUNCTION)
    return {
        "clients": clients, "seconds": window, "requests": len(results), "errors": len(results) - len(ok),
        "mixedBodies": mixed, "errorKinds": dict(error_kinds),
        "requestsPerSecond": round(len(ok) / window, 1),
        "latencyMs": latency_summary(ok),
        "usage": usage, "awsCalls": calls, "apiRequestsInWindow": requests_total,
    }
