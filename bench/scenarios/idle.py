"""The stack doing nothing: CPU and AWS requests per second of its polling."""

from __future__ import annotations

import time
from typing import Any

from infra import aws_calls

from ..system import Meter
from . import Bench


def run(bench: Bench, seconds: float) -> dict[str, Any]:
    with bench.alone("taskhook"):
        time.sleep(1.0)
        before, read_before = bench.stack.aws_counts(), time.monotonic()
        meter = Meter(bench.taskhook_pids())
        meter.start()
        time.sleep(seconds)
        usage = meter.stop()
        after, read_after = bench.stack.aws_counts(), time.monotonic()
    calls = aws_calls.difference(after, before)
    total = sum(calls["calls"].values())
    # The logs flush every 0.5 s: rates are over the time between the two reads.
    return {"seconds": seconds, "usage": usage, "awsCalls": calls,
            "awsCallsPerSecond": round(total / (read_after - read_before), 1),
            "cpuCoresBusy": {k: round(v / seconds, 3) for k, v in usage["cpuSeconds"].items() if v is not None}}
