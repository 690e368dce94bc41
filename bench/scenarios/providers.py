"""Provider tasks (`provider: "replicate"`) against the fake Replicate of infra/fake_provider.py: what a
poll costs in AWS requests. Two batches of N tasks each, one whose jobs are done at the first status
read (0 pending polls) and one whose jobs answer pending for P polls first; the difference between
the two, per task and per extra poll, is what one poll costs (one SQS message sent with a delay,
received, deleted; the task's row read and written; its stream record read). Both come from the
counted AWS calls (infra/aws_calls.py), idle receives left out; "billed" leaves out the stream
reads (Lambda's stream trigger is not billed) and control-plane calls. The SQS calls are batched
(ten messages a call at most), so with many tasks polling at once they cost less than one per poll.

Alone, against a fresh local stack:
    python -m bench.scenarios.providers --tasks 50 --polls 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from infra import aws_calls
from infra.fake_provider import FakeProviders

from .. import cost
from ..load import ApiClient, fan_out
from ..stack import LocalStack, Target
from . import Bench, wait_terminal

SETTLE = 1.5  # after the last task ended: its last writes land and the call logs flush (0.5 s)
POLL_CONFIG = {"intervalSeconds": 1, "intervalGrowth": 1, "maxIntervalSeconds": 1}


def task_body(fake: FakeProviders, label: str, index: int, polls: int) -> dict[str, Any]:
    prediction = {"version": "bench", "input": {"prompt": f"{label}-{index}", "polls": polls, "outputs": 0}}
    return {"targetUrl": fake.replicate_url, "method": "POST",
            "headers": {"Authorization": "Bearer r8_bench", "Content-Type": "application/json"},
            "body": json.dumps(prediction), "provider": "replicate", "pollConfig": POLL_CONFIG,
            "maxWaitTime": 600}


def billed(calls: dict[str, Any]) -> dict[str, float]:
    """service|operation -> requests, without the function and without idle (empty) receives."""
    out: Counter[str] = Counter()
    empty = calls.get("emptyReceives", {})
    for key, count in calls["calls"].items():
        _function, service, operation = key.split("|")
        out[f"{service}|{operation}"] += count - empty.get(key, 0)
    return {k: v for k, v in out.items() if v}


def batch(bench: Bench, fake: FakeProviders, n: int, clients: int, polls: int) -> dict[str, Any]:
    label = uuid.uuid4().hex[:8]
    before = bench.stack.aws_counts()
    started = time.monotonic()

    def submit(client: ApiClient, index: int) -> str | None:
        try:
            code, data = client.create(task_body(fake, label, index, polls))
        except OSError:
            return None
        return str(data["task"]["id"]) if code == 201 else None

    ids = [i for i in fan_out(clients, list(range(n)), submit, lambda: ApiClient(bench.stack.url, bench.key)) if i]
    states = wait_terminal(bench.stack, ids, timeout=120 + n * (polls + 1))
    seconds = time.monotonic() - started
    time.sleep(SETTLE)
    calls = aws_calls.difference(bench.stack.aws_counts(), before)
    reads = [j.reads for j in fake.jobs() if str(j.options.get("prompt", "")).startswith(f"{label}-")]
    return {"tasks": n, "created": len(ids), "pendingPolls": polls, "seconds": round(seconds, 1),
            "terminalStatuses": dict(Counter(s.get("status", "missing") for s in states.values())),
            "statusReadsPerTask": round(sum(reads) / max(1, len(reads)), 3),
            "awsCalls": calls, "billed": billed(calls),
            "awsRequestsPerTask": round(sum(billed(calls).values()) / max(1, len(ids)), 3)}


def run(bench: Bench, n: int, clients: int, polls: int) -> dict[str, Any]:
    with FakeProviders() as fake, bench.alone("taskhook"):
        batch(bench, fake, max(5, n // 10), clients, 1)  # warm-up, not counted: first-use calls (queue URLs, ...)
        quick = batch(bench, fake, n, clients, 0)
        slow = batch(bench, fake, n, clients, polls)
    extra_polls = max(1e-9, (slow["statusReadsPerTask"] - quick["statusReadsPerTask"]) * max(1, slow["created"]))
    keys = sorted(set(quick["billed"]) | set(slow["billed"]))
    per_poll = {}
    for key in keys:
        # per task in each batch, scaled to the slow batch's size, then per extra poll
        delta = slow["billed"].get(key, 0) - quick["billed"].get(key, 0) * slow["created"] / max(1, quick["created"])
        if abs(delta) >= 0.5:
            per_poll[key] = round(delta / extra_polls, 3)
    billed_per_poll = {k: v for k, v in per_poll.items()
                       if cost.billed_as(*k.split("|")) not in (None, "dynamodbstreams.lambdaTriggerRead")}
    return {
        "tasks": n, "pendingPolls": polls, "pollConfig": POLL_CONFIG,
        "noPolls": quick, "withPolls": slow,
        "awsRequestsPerPoll": round(sum(per_poll.values()), 3),
        "billedRequestsPerPoll": round(sum(billed_per_poll.values()), 3),
        "awsRequestsPerPollByOperation": per_poll,
        "awsRequestsPerTask": {"when done at the first status read": quick["awsRequestsPerTask"],
                               f"after {polls} pending polls": slow["awsRequestsPerTask"]},
        "cost": cost.per_task(slow["awsCalls"], max(1, slow["created"])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="taskhook-bench-providers-"))
    target, stack = Target(workdir), LocalStack(workdir)
    try:
        stack.start()
        bench = Bench(stack, target, {}, key=stack.state["devKey"])
        result = run(bench, args.tasks, args.clients, args.polls)
    finally:
        stack.stop()
        target.stop()
    summary = {k: result[k] for k in ("tasks", "pendingPolls", "awsRequestsPerPoll", "billedRequestsPerPoll",
                                      "awsRequestsPerPollByOperation", "awsRequestsPerTask")}
    summary["terminalStatuses"] = [result["noPolls"]["terminalStatuses"], result["withPolls"]["terminalStatuses"]]
    summary["statusReadsPerTask"] = [result["noPolls"]["statusReadsPerTask"], result["withPolls"]["statusReadsPerTask"]]
    summary["usdPerMillionTasks"] = result["cost"]["usdPerMillionTasks"]
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
