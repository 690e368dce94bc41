"""Fairness between teams (issue 13.5): team B's end-to-end latency quiet, and while team A's burst of
tasks to a slow target fills the same lane, first with no share for A, then with a share.

Team B's tasks (priority 5, like A's) go to the bench target (its own process): latency = the
target receiving the call minus the create returning, as in the e2e scenario. Team A's go to a
slow server in this process (each call held `slow` seconds). After B's tasks are measured, A's
unfinished tasks are cancelled (their messages are then acknowledged without a call), so that the
next phase starts from an empty lane. Also recorded: how many of A's calls had been answered when
B's last call arrived, and the AWS calls of the phase (the put-backs are SendMessage calls).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra import aws_calls

from ..load import ApiClient, fan_out, latency_summary, paced
from ..stack import ROOT, clean_env
from . import Bench, wait_terminal
from .e2e import pair_calls


class SlowTarget:
    """Answers 200 after `seconds`; counts answers and the most calls in flight at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.answered = 0
        self.in_flight = 0
        self.most = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner.lock:
                    owner.in_flight += 1
                    owner.most = max(owner.most, owner.in_flight)
                time.sleep(owner.seconds)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                with owner.lock:
                    owner.in_flight -= 1
                    owner.answered += 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.answered = self.in_flight = self.most = 0

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _set_share(bench: Bench, team: str, share: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "teams", "set-limits", "--team", team, "--concurrency", str(share)],
        cwd=ROOT, env=clean_env(TASKHOOK_STATE_DIR=str(bench.stack.state_dir)), capture_output=True, text=True,
        timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"teams set-limits failed: {done.stderr}")


def _team_b(bench: Bench, key: str, n: int, rate: float) -> dict[str, Any]:
    """B's `n` tasks at `rate` per second; their latencies and when the last call arrived."""
    prefix = f"/fair/{uuid.uuid4().hex[:8]}/"

    def work(client: ApiClient, index: int) -> tuple[str, float] | None:
        code, _ = client.create({"targetUrl": f"{bench.target.base}{prefix}{index}", "method": "POST",
                                 "body": "{}", "priority": 5})
        return (f"{prefix}{index}", time.time()) if code == 201 else None

    created = [c for c in paced(rate, list(range(n)), work, lambda: ApiClient(bench.stack.url, key), 4) if c]
    bench.target.wait_for(prefix, len(created), timeout=600)
    paired = pair_calls(bench.target.calls(prefix), created)
    return {"created": len(created), "e2eMs": latency_summary(paired["latencies"]),
            "lastCallAt": paired["lastFirstCall"], "tasksNeverCalled": paired["tasksNeverCalled"]}


def _phase(bench: Bench, slow: SlowTarget, b_key: str, cfg: dict[str, Any], share: int | None) -> dict[str, Any]:
    team = f"bench-a-{uuid.uuid4().hex[:8]}"
    a_key = bench.stack.create_key(team)
    if share:
        _set_share(bench, team, share)
        time.sleep(0.6)  # past the plan cache of a process that read it before
    slow.reset()
    before = bench.stack.aws_counts()
    begin = time.time()

    def create_a(client: ApiClient, index: int) -> str | None:
        code, data = client.create({"targetUrl": f"{slow.base}/a/{index}", "method": "POST", "body": "{}",
                                    "priority": 5, "timeout": 30, "maxWaitTime": 3600})
        return str(data["task"]["id"]) if code == 201 else None

    a_ids = [i for i in fan_out(8, list(range(cfg["fairBurst"])), create_a,
                                lambda: ApiClient(bench.stack.url, a_key)) if i]
    submitted = time.time()
    b = _team_b(bench, b_key, cfg["fairBTasks"], cfg["fairBRate"])
    with slow.lock:
        a_answered_when_b_done, most = slow.answered, slow.most
    # A's rest is cancelled (a cancel is legal from pending; tasks already running finish).
    cancelled = sum(1 for code, _ in fan_out(8, a_ids, lambda c, i: c.request("POST", f"/v1/tasks/{i}/cancel"),
                                             lambda: ApiClient(bench.stack.url, a_key)) if code == 200)
    states = wait_terminal(bench.stack, a_ids, timeout=120)
    time.sleep(1.0)
    calls = aws_calls.difference(bench.stack.aws_counts(), before)
    return {
        "share": share, "aTasks": len(a_ids), "aSubmitSeconds": round(submitted - begin, 2),
        "b": b, "aAnsweredWhenBDone": a_answered_when_b_done, "aMostInFlight": most,
        "aCancelled": cancelled,
        "aStatuses": {s: sum(1 for v in states.values() if v.get("status") == s)
                      for s in sorted({v.get("status", "missing") for v in states.values()})},
        # Every AWS call of the phase by service and operation (the put-backs are the executors'
        # SendMessageBatch; leases and claims are UpdateItem), and the put-back batches alone.
        "awsCalls": _by_operation(calls),
        "putBackBatches": sum(int(n) for k, n in calls.get("calls", {}).items()
                              if k.startswith("app.execute_") and k.endswith("|sqs|SendMessageBatch")),
    }


def _by_operation(calls: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, count in calls.get("calls", {}).items():
        operation = name.split("|", 1)[1]
        out[operation] = out.get(operation, 0) + int(count)
    return dict(sorted(out.items()))


def run(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    b_team = f"bench-b-{uuid.uuid4().hex[:8]}"
    b_key = bench.stack.create_key(b_team)
    slow = SlowTarget(cfg["fairSlowSeconds"])
    try:
        with bench.alone("taskhook"):
            quiet = _team_b(bench, b_key, cfg["fairBTasks"], cfg["fairBRate"])
            bench.say(f"  fairness: B quiet p50 {quiet['e2eMs'].get('p50')} ms")
            phases = {}
            for name, share in (("noShare", None), ("share", cfg["fairShare"])):
                phases[name] = _phase(bench, slow, b_key, cfg, share)
                bench.say(f"  fairness {name}: B p50 {phases[name]['b']['e2eMs'].get('p50')} ms, "
                          f"A answered when B done {phases[name]['aAnsweredWhenBDone']}/{phases[name]['aTasks']}, "
                          f"A most in flight {phases[name]['aMostInFlight']}")
    finally:
        slow.stop()
    quiet_p50 = quiet["e2eMs"].get("p50")
    ratio = {name: (round(p["b"]["e2eMs"]["p50"] / quiet_p50, 2) if quiet_p50 and p["b"]["e2eMs"].get("p50")
                    else None) for name, p in phases.items()}
    return {"config": {k: cfg[k] for k in ("fairBurst", "fairShare", "fairSlowSeconds", "fairBTasks", "fairBRate")},
            "quiet": quiet, **phases, "bP50OverQuiet": ratio}


def summary_line(result: dict[str, Any]) -> str:
    return json.dumps(result["bP50OverQuiet"])
