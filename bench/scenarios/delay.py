"""Delay precision: tasks with delayUntil spread uniformly over [low, high] seconds ahead; the
error is |first call at the target - delayUntil|."""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from typing import Any

from taskhook.model.clock import parse_iso

from ..load import ApiClient, fan_out, latency_summary, percentile
from . import Bench, iso_ms
from .e2e import task_body


def run(bench: Bench, n: int, low: float, high: float, clients: int = 8) -> dict[str, Any]:
    label = uuid.uuid4().hex[:8]
    prefix = f"/delay/{label}/"
    draw = random.Random(7)
    offsets = [draw.uniform(low, high) for _ in range(n)]
    due: list[tuple[str, float]] = []  # (path stored, delayUntil stored)
    mixed = [0]

    def make_client() -> ApiClient:
        return ApiClient(bench.stack.url, bench.key)

    def work(client: ApiClient, index: int) -> bool:
        # Rounded to the millisecond, as Taskhook stores it.
        at = round(time.time() + offsets[index], 3)
        body = {**task_body(f"{bench.target.base}{prefix}{index}"), "delayUntil": iso_ms(at)}
        code, data = client.create(body)
        if code == 201:
            task = data["task"]
            stored = (task["targetUrl"][len(bench.target.base):], parse_iso(task["delayUntil"]).timestamp())
            due.append(stored)
            mixed[0] += stored[0] != f"{prefix}{index}"
        return code == 201

    with bench.alone("taskhook"):
        created = sum(fan_out(clients, list(range(n)), work, make_client))
        latest = max(d for _, d in due) if due else time.time()
        last = [0.0]

        def progress(seen: int) -> None:
            if time.monotonic() - last[0] >= 10:
                last[0] = time.monotonic()
                bench.say(f"  delay: {seen}/{created} fired, last due in {max(0, latest - time.time()):.0f}s")

        bench.target.wait_for(prefix, created, timeout=max(0.0, latest - time.time()) + 60, progress=progress)
    # Pair each path's calls with the tasks stored with that path, both in time order.
    by_path: dict[str, list[float]] = defaultdict(list)
    for path, at, _ in bench.target.calls(prefix):
        by_path[path].append(at)
    owners: dict[str, list[float]] = defaultdict(list)
    for path, at in due:
        owners[path].append(at)
    signed = []
    for path, dues in owners.items():
        signed += [call - d for d, call in zip(sorted(dues), sorted(by_path.get(path, [])), strict=False)]
    errors = [abs(s) for s in signed]
    return {
        "tasks": n, "created": created, "fired": len(signed), "mixedBodies": mixed[0], "spreadSeconds": [low, high],
        "absErrorMs": latency_summary(errors),
        "early": sum(1 for s in signed if s < 0),
        "earliestMs": round(min(signed) * 1000, 1) if signed else None,
        "lateP50Ms": round((percentile(signed, 50) or 0) * 1000, 1) if signed else None,
    }
