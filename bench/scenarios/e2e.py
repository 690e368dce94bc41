"""End to end: N HTTP callback tasks against the target on 127.0.0.1, through Taskhook and through
the Celery peer. Latency = the target receiving the request minus the create call returning."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from infra import aws_calls

from ..load import ApiClient, fan_out, latency_summary, paced
from ..payloads import json_document
from ..system import Meter
from . import Bench, wait_terminal

SETTLE = 1.0  # after the last call: the final write and delete land, the call logs flush (0.5 s)
REQUEST_BODY_BYTES = 1024  # the task's body: a realistic 1 KB JSON document (bench/payloads.py)
ANSWER_BYTES = 1024  # the target's answer, the same kind (the harness sets it; 64 KB in its own scenario)
BODY = json_document(REQUEST_BODY_BYTES, "request")


def task_body(url: str) -> dict[str, Any]:
    # The same retry policy as the peer: at most 3 retries, exponential backoff with jitter.
    return {"targetUrl": url, "method": "POST", "body": BODY, "maxRetries": 3, "retryBackoff": "exponential",
            "timeout": 10}


def pair_calls(calls: list[tuple[str, float, str]], tasks: list[tuple[str, float]]) -> dict[str, Any]:
    """Match target calls to tasks by path. A path normally belongs to one task; when several tasks
    were stored with the same URL (see `mixedBodies`), their first calls are paired with them in
    time order. Returns latencies (first call - create returned), calls per task, the time of
    the last first call, and how many tasks got no call or more than one."""
    by_path: dict[str, list[float]] = defaultdict(list)
    for path, at, _answer in calls:
        by_path[path].append(at)
    owners: dict[str, list[float]] = defaultdict(list)
    for path, returned in tasks:
        owners[path].append(returned)
    latencies: list[float] = []
    firsts: list[float] = []
    never = twice = 0
    for path, returned in owners.items():
        arrivals = sorted(by_path.get(path, []))
        mine = sorted(returned)
        never += max(0, len(mine) - len(arrivals))
        twice += max(0, len(arrivals) - len(mine))
        for created, first in zip(mine, arrivals, strict=False):
            latencies.append(first - created)
            firsts.append(first)
    return {"calls": len(calls), "latencies": latencies, "lastFirstCall": max(firsts) if firsts else None,
            "callsPerTask": round(len(calls) / len(tasks), 3) if tasks else None,
            "tasksNeverCalled": never, "extraCalls": twice}


def _run(bench: Bench, system: str, n: int, clients: int, rate: float | None,
         submit: Callable[[Any, int], tuple[bool, str | None, str]], make_client: Callable[[], Any],
         pids: dict[str, int], prefix: str, progress_every: float = 5.0) -> dict[str, Any]:
    created: list[tuple[str, float]] = []  # (path the task was stored with, create returned at)
    ids: list[str] = []
    errors = mixed = 0

    def work(client: Any, index: int) -> tuple[int, bool, str | None, str, float]:
        try:
            ok, task_id, stored_path = submit(client, index)
        except Exception:  # noqa: BLE001 - a failed create is counted, not fatal
            ok, task_id, stored_path = False, None, ""
        return index, ok, task_id, stored_path, time.time()

    before = bench.stack.aws_counts() if system == "taskhook" else None
    meter = Meter(pids)
    meter.start()
    begin = time.time()
    jobs = list(range(n))
    results = paced(rate, jobs, work, make_client, clients) if rate else fan_out(clients, jobs, work, make_client)
    submitted = time.time()
    for index, ok, task_id, stored_path, at in results:
        if not ok:
            errors += 1
            continue
        created.append((stored_path, at))
        mixed += stored_path != f"{prefix}{index}"
        if task_id:
            ids.append(task_id)
    last_report = [time.monotonic()]

    def progress(seen: int) -> None:
        if time.monotonic() - last_report[0] >= progress_every:
            last_report[0] = time.monotonic()
            bench.say(f"  {system}: target has {seen}/{len(created)} calls")

    seen = bench.target.wait_for(prefix, len(created), timeout=max(300.0, n / 2), progress=progress)
    time.sleep(SETTLE)
    usage = meter.stop()
    after = bench.stack.aws_counts() if system == "taskhook" else None
    paired = pair_calls(bench.target.calls(prefix), created)
    last_first_call = paired["lastFirstCall"] or submitted
    run: dict[str, Any] = {
        "system": system, "tasks": n, "created": len(created), "createErrors": errors, "clients": clients,
        "pacedRate": rate, "submitSeconds": round(submitted - begin, 3),
        "createRate": round(len(created) / (submitted - begin), 1) if submitted > begin else None,
        "targetCalls": paired["calls"], "callsPerTask": paired["callsPerTask"],
        "tasksNeverCalled": paired["tasksNeverCalled"], "extraCalls": paired["extraCalls"],
        "mixedBodies": mixed,
        "e2eMs": latency_summary(paired["latencies"]),
        "tasksPerSecond": round(len(paired["latencies"]) / (last_first_call - begin), 1)
        if last_first_call > begin else None,
        "seenWithinTimeout": seen >= len(created),
        "usage": usage,
    }
    if system == "taskhook":
        assert before is not None and after is not None
        run["awsCalls"] = aws_calls.difference(after, before)
        states = wait_terminal(bench.stack, ids, timeout=60)
        run["terminalStatuses"] = dict(Counter(s.get("status", "missing") for s in states.values()))
        run["missingTasks"] = len(ids) - len(states)
        run["streamUnits"] = bench.stack.stream_units(ids)
        sample = task_body(f"{bench.target.base}{prefix}0")
        run["sizes"] = {"requestBodyBytes": len(str(sample["body"]).encode()),
                        "createRequestBytes": len(json.dumps(sample).encode()),
                        "answerBytes": bench.target.answer_bytes()}
    return run


def taskhook(bench: Bench, n: int, clients: int, rate: float | None = None) -> dict[str, Any]:
    label = uuid.uuid4().hex[:8]
    prefix = f"/e2e/{label}/"

    def make_client() -> ApiClient:
        return ApiClient(bench.stack.url, bench.key)

    def submit(client: ApiClient, index: int) -> tuple[bool, str | None, str]:
        code, data = client.create(task_body(f"{bench.target.base}{prefix}{index}"))
        if code != 201:
            return False, None, ""
        # The URL the API stored, which is not always the one sent (see mixedBodies in the report).
        return True, data["task"]["id"], data["task"]["targetUrl"][len(bench.target.base):]

    with bench.alone("taskhook"):
        return _run(bench, "taskhook", n, clients, rate, submit, make_client, bench.taskhook_pids(), prefix)


def celery(bench: Bench, n: int, clients: int, rate: float | None = None, system: str = "celery") -> dict[str, Any]:
    """The same run through a Celery peer: `system` names it in `bench.peers` ("celery": the raw
    broker; "celeryResults": with a Redis result backend and task_track_started)."""
    peer = bench.peers[system]
    label = uuid.uuid4().hex[:8]
    prefix = f"/e2e/{label}/"

    def submit(_client: None, index: int) -> tuple[bool, str | None, str]:
        result = peer.submit(f"{bench.target.base}{prefix}{index}", BODY)
        return True, result.id, f"{prefix}{index}"

    with bench.alone(system):
        run = _run(bench, system, n, clients, rate, submit, lambda: None, bench.peer_pids(system), prefix)
    run["pool"] = {"kind": peer.pool, "concurrency": peer.concurrency}
    run["resultBackend"] = peer.backend is not None
    return run
