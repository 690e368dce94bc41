"""Renders bench/report.md from bench/results.json (and bench/soak.json when it exists). Every figure
comes from those files; the only hand-typed numbers anywhere are the prices in bench/prices.json.

    python -m bench.report [results.json] [report.md]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import cost

HERE = Path(__file__).resolve().parent
DASH = "–"


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return DASH
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def mmm(stat: dict[str, Any] | None, digits: int = 1) -> str:
    """median (min–max) over repeated runs."""
    if not stat or stat.get("median") is None:
        return DASH
    if stat.get("runs", 1) <= 1 or stat["min"] == stat["max"]:
        return _num(float(stat["median"]), digits)
    return f"{_num(float(stat['median']), digits)} ({_num(float(stat['min']), digits)}{DASH}" \
           f"{_num(float(stat['max']), digits)})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _cores(busy: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in busy.items() if value)


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    git = results.get("git", {})
    mode = results["config"]["mode"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return [
        "## Machine and run", "",
        *_table(["", ""], [
            ["Date (UTC)", f"{results['date']} {DASH} {results.get('finished', '')}"],
            ["Mode", f"{mode} (`make bench{'-quick' if mode == 'quick' else ''}`), "
                     f"{results.get('wallSeconds', 0):.0f} s"],
            ["Git commit", f"`{git.get('commit')}`" + (" + uncommitted changes" if git.get("dirty") else "")],
            ["CPU", f"{m['cpuModel']}, {m['cores']} cores"],
            ["Memory", f"{m['memoryGiB']} GiB"],
            ["OS", f"{m['os']}"],
            ["Python", f"{m['python']} ({m['pythonImplementation']})"],
            ["Packages", packages],
            ["redis-server", m.get("redisServer") or DASH],
            ["Load average at start", " ".join(f"{x:.2f}" for x in m["loadAverageAtStart"])],
        ]),
    ]


def _headline(results: dict[str, Any]) -> list[str]:
    s = results["scenarios"]
    e2e = s.get("e2e", {}).get("taskhook", {}).get("summary", {})
    celery = s.get("e2e", {}).get("celery", {}).get("summary", {})
    api = s.get("api", {})
    delay = s.get("delay", {})
    rows = []
    for clients, level in api.items():
        summary = level["summary"]
        rows.append([f"API create, {clients} client(s)",
                     f"p50 {mmm(summary['p50Ms'])} ms, p99 {mmm(summary['p99Ms'])} ms, "
                     f"{mmm(summary['requestsPerSecond'])} req/s"])
    if e2e:
        rows.append(["End to end (Taskhook)",
                     f"{mmm(e2e['tasksPerSecond'])} tasks/s, p50 {mmm(e2e['e2eP50Ms'], 0)} ms, "
                     f"p99 {mmm(e2e['e2eP99Ms'], 0)} ms, {mmm(e2e['callsPerTask'], 2)} target calls/task"])
    if celery:
        rows.append(["End to end (Celery peer)", f"{mmm(celery['tasksPerSecond'])} tasks/s, p50 "
                     f"{mmm(celery['e2eP50Ms'], 0)} ms, p99 {mmm(celery['e2eP99Ms'], 0)} ms, "
                     f"{mmm(celery['callsPerTask'], 2)} target calls/task"])
    if delay:
        err = delay["absErrorMs"]
        rows.append(["Delay precision \\|first call − delayUntil\\|",
                     f"p50 {_num(err.get('p50'))} ms, p99 {_num(err.get('p99'))} ms, max {_num(err.get('max'))} ms"])
    if e2e:
        rows.append(["AWS requests per task", f"{mmm(e2e['awsRequestsPerTask'], 2)} "
                     f"({mmm(e2e['billedRequestsPerTask'], 2)} billed)"])
        rows.append(["Cost per million tasks on AWS", f"${mmm(e2e['usdPerMillionTasks'], 2)}, of which Lambda "
                     f"duration ${mmm(e2e.get('usdPerMillionTasksLambdaDuration'), 2)} (local wall times); prices: "
                     f"{e2e['costOfMedianRun']['prices']['source']}, {e2e['costOfMedianRun']['prices']['region']}"])
        cpu = e2e["cpuSecondsPer1000"]
        rows.append(["CPU seconds per 1000 tasks", f"Taskhook's code {mmm(cpu['own'], 2)}, emulator "
                     f"{mmm(cpu['infrastructure'], 2)}"])
    ratios = results.get("ratios")
    if ratios:
        rows.append(["Taskhook / Celery", f"throughput {_num(ratios['throughput'], 2)}×, e2e p50 "
                     f"{_num(ratios['e2eP50'], 2)}×, e2e p99 {_num(ratios['e2eP99'], 2)}×, CPU per task "
                     f"{_num(ratios['cpuPerTaskOwnCode'], 2)}× (own code) / {_num(ratios['cpuPerTaskTotal'], 2)}× "
                     "(with emulator vs redis)"])
    return ["## Headline figures", "", "Median over repeated runs, (min–max) when they differ.", "",
            *_table(["", ""], rows)]


def _api(results: dict[str, Any]) -> list[str]:
    api = results["scenarios"].get("api")
    if not api:
        return []
    cfg = results["config"]
    rows = []
    for clients, level in api.items():
        s = level["summary"]
        mixed = sum(r.get("mixedBodies", 0) for r in level["runs"])
        total = sum(r["requests"] for r in level["runs"])
        kinds: dict[str, int] = {}
        for r in level["runs"]:
            for kind, count in r.get("errorKinds", {}).items():
                kinds[kind] = kinds.get(kind, 0) + count
        errors = str(s["errors"]) + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")"
                                     if kinds else "")
        rows.append([clients, mmm(s["requestsPerSecond"]), mmm(s["p50Ms"]), mmm(s["p95Ms"]), mmm(s["p99Ms"]),
                     errors, f"{mixed} of {total}", mmm(s["cpuMsPerRequest"]["api"]),
                     mmm(s["cpuMsPerRequest"]["emulator"]), mmm(s["awsCallsPerRequest"], 2)])
    return [
        "## API: create-task latency and throughput", "",
        f"Closed loop: each client is one keep-alive connection sending `POST /v1/tasks` back to back for "
        f"{cfg['apiSeconds']:g} s after a 1 s warm-up; {cfg['apiRepeats']} runs per level. The tasks carry a "
        "far-future `delayUntil` so nothing executes them while the API is measured (same request path: "
        "auth GetItem, validation, one conditional PutItem). \"Wrong body\" counts 201 answers whose task "
        "shows another concurrent request's body (see Findings).", "",
        *_table(["clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "wrong body", "api CPU ms/req",
                 "emulator CPU ms/req", "AWS calls/req"], rows),
    ]


def _e2e(results: dict[str, Any]) -> list[str]:
    e2e = results["scenarios"].get("e2e")
    if not e2e:
        return []
    cfg = results["config"]
    peer = results.get("peer") or {}
    header = ["", "Taskhook"] + (["Celery peer"] if "celery" in e2e else [])
    t = e2e["taskhook"]["summary"]
    c = e2e.get("celery", {}).get("summary")

    def row(label: str, key: str, digits: int = 1) -> list[str]:
        return [label, mmm(t[key], digits)] + ([mmm(c[key], digits)] if c else [])

    rows = [
        row("tasks/s sustained", "tasksPerSecond"),
        row("create calls/s achieved", "createRate"),
        row("e2e p50 ms", "e2eP50Ms", 0), row("e2e p95 ms", "e2eP95Ms", 0), row("e2e p99 ms", "e2eP99Ms", 0),
        row("target calls per task", "callsPerTask", 2),
        ["CPU s / 1000 tasks: own code", mmm(t["cpuSecondsPer1000"]["own"], 2)]
        + ([mmm(c["cpuSecondsPer1000"]["own"], 2)] if c else []),
        ["CPU s / 1000 tasks: emulator / broker", mmm(t["cpuSecondsPer1000"]["infrastructure"], 2)]
        + ([mmm(c["cpuSecondsPer1000"]["infrastructure"], 2)] if c else []),
        ["CPU s / 1000 tasks: total", mmm(t["cpuSecondsPer1000"]["total"], 2)]
        + ([mmm(c["cpuSecondsPer1000"]["total"], 2)] if c else []),
        ["other processes' CPU s during a run", mmm(t["otherProcessesCpuSeconds"], 1)]
        + ([mmm(c["otherProcessesCpuSeconds"], 1)] if c else []),
    ]
    paced = results["scenarios"].get("e2ePaced", {})
    if paced:
        pt = paced.get("taskhook", {}).get("summary")
        pc = paced.get("celery", {}).get("summary")
        for key, label in (("e2eP50Ms", "paced e2e p50 ms"), ("e2eP99Ms", "paced e2e p99 ms")):
            rows.append([label, mmm(pt[key], 0) if pt else DASH] + ([mmm(pc[key], 0) if pc else DASH] if c else []))
    statuses = t.get("terminalStatuses", [])
    mixed = sum(r.get("mixedBodies", 0) for r in e2e["taskhook"]["runs"])
    lines = [
        "## End to end: N HTTP callback tasks", "",
        f"N = {cfg['e2eTasks']} tasks per run, {cfg['e2eRepeats']} runs per system, interleaved. {cfg['e2eClients']} "
        "client threads submit all N as fast as the system takes them (Taskhook: `POST /v1/tasks`; Celery: "
        "`apply_async`); latency is the target receiving the request minus the create call returning, so under "
        "this burst it includes the backlog's queueing. The paced rows submit "
        f"{cfg['pacedTasks']} tasks at {cfg['pacedRate']:g}/s ({cfg['pacedRepeats']} run(s)): the latency of "
        "the dispatch path without a backlog. Both systems call the same target process on 127.0.0.1 with the "
        "same policy (POST, 10 s timeout, at most 3 retries, exponential backoff with ±20 % jitter, retry on "
        "5xx/429/network errors). While one system is measured the other's processes are frozen (SIGSTOP), so "
        "neither pays for the other's idle polling.", "",
        *_table(header, rows),
        f"Taskhook's tasks' final statuses per run: {statuses}. Tasks stored with another request's body "
        f"(the API concurrency bug in Findings): {mixed} over all runs; the harness matches calls to tasks by the "
        "URL the API stored.", "",
    ]
    if peer:
        lines += [f"Peer: Celery {results['machine']['packages'].get('celery')} with a Redis broker "
                  f"(redis-server {results['machine'].get('redisServer')}), one worker process, pool "
                  f"`{peer['pool']}` with concurrency {peer['concurrency']} (Taskhook's runner is one process: "
                  "4 lane threads, each running a batch of up to 10 records on an asyncio default executor of "
                  "min(32, cores + 4) = 6 threads, so up to 24 calls at once), `acks_late` (at-least-once, as "
                  "Taskhook), no result backend (Celery keeps no task state; Taskhook writes every transition "
                  "to DynamoDB).", ""]
    rss_rows = []
    for name, stat in t["peakRssMb"].items():
        rss_rows.append([f"taskhook: {name}", mmm(stat, 0)])
    if c:
        for name, stat in c["peakRssMb"].items():
            rss_rows.append([f"celery peer: {name}", mmm(stat, 0)])
    cpu_rows = [[f"taskhook: {name}", mmm(stat, 2)] for name, stat in t["cpuSecondsPer1000ByProcess"].items()]
    if c:
        cpu_rows += [[f"celery peer: {name}", mmm(stat, 2)] for name, stat in c["cpuSecondsPer1000ByProcess"].items()]
    lines += ["### CPU seconds per 1000 tasks and peak RSS, per process", "",
              "CPU = utime + stime from /proc/<pid>/stat over the run; peak RSS = VmHWM from /proc/<pid>/status, "
              "reset at the start of each run (clear_refs). Taskhook's own code = every process of the stack but the "
              f"emulator ({', '.join(n for n in t['cpuSecondsPer1000ByProcess'] if n != 'emulator')}); the "
              "emulator is moto's server.", "",
              *_table(["process", "CPU s / 1000 tasks"], cpu_rows),
              *_table(["process", "peak RSS MB"], rss_rows)]
    return lines


def _ratios(results: dict[str, Any]) -> list[str]:
    r = results.get("ratios")
    if not r:
        return []
    rows = [["throughput (tasks/s)", _num(r["throughput"], 2)], ["e2e p50 (burst)", _num(r["e2eP50"], 2)],
            ["e2e p99 (burst)", _num(r["e2eP99"], 2)]]
    if "pacedE2eP50" in r:
        rows += [["e2e p50 (paced)", _num(r["pacedE2eP50"], 2)], ["e2e p99 (paced)", _num(r["pacedE2eP99"], 2)]]
    rows += [["CPU per task, own code (api+runner vs worker)", _num(r["cpuPerTaskOwnCode"], 2)],
             ["CPU per task, total (with moto vs with redis)", _num(r["cpuPerTaskTotal"], 2)]]
    return ["## Taskhook / Celery", "", "Ratios of the medians (above 1 means Taskhook's figure is larger).", "",
            *_table(["figure", "Taskhook / Celery"], rows)]


def _delay(results: dict[str, Any]) -> list[str]:
    d = results["scenarios"].get("delay")
    if not d:
        return []
    err = d["absErrorMs"]
    return ["## Delay precision", "",
            f"{d['created']} tasks with `delayUntil` spread uniformly {d['spreadSeconds'][0]:g}–"
            f"{d['spreadSeconds'][1]:g} s ahead (one run); error = |first call at the target − delayUntil|.", "",
            *_table(["fired", "p50 ms", "p95 ms", "p99 ms", "max ms", "called early", "earliest ms", "signed p50 ms"],
                    [[f"{d['fired']} of {d['created']}", _num(err.get("p50")), _num(err.get("p95")),
                      _num(err.get("p99")), _num(err.get("max")), str(d["early"]), _num(d["earliestMs"]),
                      _num(d["lateP50Ms"])]])]


def _cost(results: dict[str, Any]) -> list[str]:
    e2e = results["scenarios"].get("e2e", {}).get("taskhook")
    if not e2e:
        return []
    c = e2e["summary"]["costOfMedianRun"]
    prices = cost.load_prices()
    rows = [[r["function"], r["service"], r["operation"], f"{r['perTask']:.3f}",
             f"{r['emptyReceivesPerTask']:.3f}" if r["emptyReceivesPerTask"] else "",
             r["billedAs"] or "not billed per request"] for r in c["requests"]]
    lambda_rows = [[fn, f"{v['invocationsPerTask']:.3f}", _num(v["recordsPerInvocation"], 2),
                    _num(v["msPerInvocation"], 1)] for fn, v in c["lambda"].items()]
    cost_rows = [[entry, f"{line['perTask']:.4f}", f"${prices['prices'][entry]['usd']:.10g} per "
                  f"{prices['prices'][entry]['per']:,}", f"${line['usdPerMillionTasks']:.3f}"]
                 for entry, line in sorted(c["cost"].items())]
    price_rows = [[name, f"${p['usd']:.10g}", f"{p['per']:,}", p["what"]] for name, p in prices["prices"].items()]
    text = (cost.__doc__ or "").split("Approximations (printed in the report):")[1].strip()
    approximations = [" ".join(part.split()) for part in text.lstrip("- ").split("\n- ")]
    return [
        "## AWS requests per task and cost on AWS", "",
        "Counted, not estimated: every process of the stack wraps botocore's `BaseClient._make_api_call` "
        "(`infra/aws_calls.py`, on when `TASKHOOK_AWS_CALL_LOG` is set), which also sees PynamoDB's and "
        "Powertools' clients, and attributes each call to the Lambda it ran in. Figures per created task of the "
        f"e2e run with the median cost ({c['tasks']} tasks).", "",
        *_table(["function", "service", "operation", "per task", "+ empty receives", "billed as"], rows),
        f"AWS requests per task: {c['awsRequestsPerTask']:.3f}, of which billed per request on AWS: "
        f"{c['billedRequestsPerTask']:.3f} (by service: "
        + ", ".join(f"{k} {v}" for k, v in c["requestsPerTaskByService"].items()) + ").", "",
        *_table(["Lambda function", "invocations per task", "records per invocation", "ms per invocation (local)"],
                lambda_rows),
        f"### Cost per million tasks: ${c['usdPerMillionTasks']:.2f}", "",
        f"Lambda memory {c['memoryGb']:g} GB (template.yaml `Globals.Function.MemorySize`).", "",
        *_table(["price entry", "units per task", "price", "$ per million tasks"], cost_rows),
        f"Price table (`bench/prices.json`), region {prices['region']}, {prices['currency']}. "
        f"**{prices['source']}** — {prices['note']}", "",
        *_table(["entry", "price", "per", "what"], price_rows),
        "Approximations:", "", *[f"- {a}" for a in approximations if a], "",
    ]


def _vault(results: dict[str, Any]) -> list[str]:
    v = results["scenarios"].get("vault")
    if not v:
        return []
    c, k = v["cost"], v["kms"]
    calls = ", ".join(f"{name} {per}" for name, per in sorted(k["kmsCallsPerTask"].items()))
    kms_line = c["cost"].get("kms.request", {"perTask": 0.0, "usdPerMillionTasks": 0.0})
    return ["## Token Vault: KMS calls per task", "",
            f"{v['created']} tasks with `Authorization: Bearer tok_…` (`bench/scenarios/vault.py`): KMS Decrypt "
            f"per task {k['decryptPerTask']} (by function and operation: {calls}). The executor reads the token's "
            "row for every task and decrypts only on a cache miss (keyed by ciphertext). KMS per task "
            f"{kms_line['perTask']}, ${kms_line['usdPerMillionTasks']:.3f} per million tasks; all AWS requests per "
            f"task {c['awsRequestsPerTask']:.3f}, ${c['usdPerMillionTasks']:.2f} per million tasks.", ""]


def _providers(results: dict[str, Any]) -> list[str]:
    p = results["scenarios"].get("providers")
    if not p:
        return []
    per_op = ", ".join(f"{k.replace('|', ' ')} {v}" for k, v in sorted(p["awsRequestsPerPollByOperation"].items()))
    return ["## Provider tasks: AWS requests per poll", "",
            f"{p['tasks']} Replicate tasks done at the first status read, then {p['tasks']} that answer pending "
            f"for {p['pendingPolls']} polls first (`bench/scenarios/providers.py`, the fake provider of "
            f"`infra/fake_provider.py`, polls every {p['pollConfig']['intervalSeconds']} s). One poll costs "
            f"**{p['awsRequestsPerPoll']} AWS requests**, {p.get('billedRequestsPerPoll')} of them billed ({per_op}); "
            "a task costs " + " and ".join(f"{v} AWS requests {k}" for k, v in p["awsRequestsPerTask"].items())
            + " (idle receives left out).", ""]


def _fairness(results: dict[str, Any]) -> list[str]:
    f = results["scenarios"].get("fairness")
    if not f:
        return []
    c = f["config"]
    rows = [["quiet (no burst)", "–", _num(f["quiet"]["e2eMs"].get("p50")), _num(f["quiet"]["e2eMs"].get("p95")),
             "1.0", "–", "–", "–", "–"]]
    for name, label in (("noShare", "A's burst, no share"), ("share", f"A's burst, A's share {c['fairShare']}")):
        p = f.get(name)
        if not p:
            continue
        calls = p.get("awsCalls", {})
        per_task = sum(calls.values()) / max(1, p["aTasks"] + p["b"]["created"])
        rows.append([label, str(p["aTasks"]), _num(p["b"]["e2eMs"].get("p50")), _num(p["b"]["e2eMs"].get("p95")),
                     _num(f["bP50OverQuiet"].get(name), 2), f"{p['aAnsweredWhenBDone']}/{p['aTasks']}",
                     str(p["aMostInFlight"]),
                     f"{p.get('putBackBatches', 0)}", f"{per_task:.1f}"])
    return ["## Fairness between teams", "",
            f"Team B's {c['fairBTasks']} tasks at {c['fairBRate']:g}/s (priority 5, fast target), quiet and right "
            f"after team A created {c['fairBurst']} priority-5 tasks whose calls take {c['fairSlowSeconds']:g} s "
            "(`bench/scenarios/fairness.py`; A's unfinished tasks are cancelled after B's are measured). The goal "
            "(issue 13.5): B's p50 during the burst within 2× of quiet. Put-backs are sent ten to a "
            "SendMessageBatch; AWS calls per task count every call of the phase (API, stream, executors, put-backs, "
            "leases) over A's and B's tasks.", "",
            *_table(["phase", "A tasks", "B p50 ms", "B p95 ms", "B p50 / quiet", "A calls answered when B done",
                     "A most in flight", "put-back batches", "AWS calls per task"], rows)]


def _idle(results: dict[str, Any]) -> list[str]:
    i = results["scenarios"].get("idle")
    if not i:
        return []
    calls = ", ".join(f"{k.lstrip('|')} {v}" for k, v in sorted(i["awsCalls"]["calls"].items()))
    return ["## The idle stack", "",
            f"{i['seconds']:g} s with no work: cores busy: {_cores(i['cpuCoresBusy'])}; "
            f"{i['awsCallsPerSecond']} AWS calls/s "
            f"({calls}).", ""]


def _soak(soak: dict[str, Any] | None) -> list[str]:
    if not soak:
        return ["## No-loss soak", "", "No complete `make soak` run yet (it writes bench/soak.json).", ""]
    cfg = soak["config"]
    return [
        "## No-loss soak", "",
        f"`python -m bench.soak --tasks {soak['tasks']}` (`make soak` runs 10,000): {soak['tasks']} tasks "
        f"({soak['date']}, seed {soak['seed']}), {cfg['clients']} clients; target: "
        f"{cfg['fail503']:.0%} answered 503, {cfg['hang']:.0%} hung {cfg['hangSeconds']:g} s (attempt timeout "
        f"{cfg['attemptTimeout']} s), {cfg['close']:.0%} closed the connection; maxRetries {cfg['maxRetries']}, "
        f"claim margin {cfg['claimMargin']:g} s, lane VisibilityTimeout {cfg['laneVisibilityTimeout']}; the runner "
        f"was killed with SIGKILL at "
        + ", ".join(f"{k['atSeconds']} s ({k['targetCalls']} calls)" for k in soak["kills"])
        + " and restarted by the supervisor.", "",
        "```", soak["verdict"], "```", "",
        *_table(["", ""], [
            ["final statuses", ", ".join(f"{k} {v}" for k, v in sorted(soak["statuses"].items()))],
            ["lost (not terminal or missing)", str(soak["lost"])],
            ["finished twice (stream)", str(soak["doubleFinished"])],
            ["changed after finishing (stream)", str(soak["changedAfterFinishing"])],
            ["completed without a 2xx at the target", str(soak["completedWithout2xx"])],
            ["target answers", ", ".join(f"{k} {v}" for k, v in sorted(soak["targetAnswers"].items()))],
            ["retry counts", ", ".join(f"{k}: {v}" for k, v in soak["retryCounts"].items())],
            ["messages in the DLQ", str(soak["dlqMessages"])],
            ["time: submit / settle / total", f"{soak['submitSeconds']} s / {soak['settleSeconds']} s / "
                                              f"{soak['wallSeconds']} s"],
        ]),
    ]


def _findings(results: dict[str, Any]) -> list[str]:
    """What the figures say about Taskhook. Prose only; every number is read from the results."""
    s = results["scenarios"]
    lines = ["## Findings", ""]
    api = s.get("api", {})
    mixed = {c: (sum(r.get("mixedBodies", 0) for r in lv["runs"]), sum(r["requests"] for r in lv["runs"]))
             for c, lv in api.items()}
    if any(m for m, _ in mixed.values()):
        lines.append(
            "- **Concurrent requests to the local API see each other's bodies.** Chalice keeps the request on "
            "the app object (`app.current_request`), one per process; on Lambda a process serves one request "
            "at a time, but the local API server (`infra/api_server.py`, Chalice's threaded dev server) runs "
            "requests on threads that overwrite it. Answers that showed another request's body: "
            + ", ".join(f"{c} client(s) {m} of {t}" for c, (m, t) in mixed.items())
            + ". Headers (the API key, so the team) are mixed the same way. The figures here stay valid as "
              "costs (each request still does one create), and the harness matches calls by the URL stored.")
    e2e = s.get("e2e", {}).get("taskhook")
    if e2e:
        t = e2e["summary"]
        cpu = t["cpuSecondsPer1000ByProcess"]
        lam = t["costOfMedianRun"]["lambda"]
        notifier = next((v for k, v in lam.items() if "task_change" in k), None)
        executor = next((v for k, v in lam.items() if "execute" in k), None)
        lines.append(
            f"- **The emulator is the bottleneck of the local stack.** moto's server used "
            f"{mmm(cpu.get('emulator'), 1)} CPU s per 1000 tasks against {mmm(cpu.get('runner'), 1)} for the "
            f"runner and {mmm(cpu.get('api'), 1)} for the API; it is one Python process, so it caps local "
            "throughput near one core's worth of AWS calls. On AWS these calls cost milliseconds each and scale "
            "out; the local figures are for the local stack, not a forecast of AWS. The stack runs moto through "
            "`infra/emulator.py`, which removes three costs moto paid per request or per queued message (a "
            "backend lookup under a global lock, and SQS's clock reads and attribute rebuilds, which made a "
            "receive cost about 5 s with 5,000 messages queued); without it the 10,000-task soak stalled.")
        if notifier:
            lines.append(
                f"- **The stream is read by one worker, a batch at a time.** The stream dispatcher handled "
                f"{_num(notifier['recordsPerInvocation'], 1)} records per invocation in "
                f"{_num(notifier['msPerInvocation'], 0)} ms locally, with one `SendMessageBatch` per lane and ten "
                "new tasks, one notifications batch and one live-feed subscriber lookup per team. New tasks still "
                "share the stream with every running task's changes; on AWS, the stream mapping's "
                "ParallelizationFactor would read a shard with up to ten concurrent batches.")
        if executor:
            lines.append(
                f"- **Each task costs four calls in the executor.** {_num(executor['recordsPerInvocation'], 2)} "
                f"records per invocation and {_num(executor['msPerInvocation'], 0)} ms each: a GetItem, the claim "
                "and the finish (two conditional UpdateItems) and a ChangeMessageVisibility that shortens the "
                "message's invisibility to `timeout + claim margin`, so a crashed run's task is retried that soon "
                "rather than after the queue's 6 minutes. The GetItem could be folded into the claim for a first "
                "attempt (a condition on the fresh state, `ReturnValuesOnConditionCheckFailure=ALL_OLD`).")
    idle = s.get("idle")
    if idle:
        lines.append(
            f"- **The idle stack.** With nothing to do it makes {idle['awsCallsPerSecond']} AWS calls/s and keeps "
            f"cores this busy: {_cores(idle['cpuCoresBusy'])}. One lane worker at a time short-polls the lanes "
            "(backing off to 0.2 s), the other queues long-poll, and the stream is described once a minute. On AWS "
            "Lambda's pollers do this work (they long-poll), so it is a cost of the local stack only.")
    api_errors: dict[str, int] = {}
    for level in api.values():
        for run in level["runs"]:
            for kind, count in run.get("errorKinds", {}).items():
                api_errors[kind] = api_errors.get(kind, 0) + count
    if api_errors:
        lines.append(
            "- **Some API requests failed under concurrency** ("
            + ", ".join(f"{k} {v}" for k, v in sorted(api_errors.items()))
            + "). The local API server is a threading `socketserver` (a listen backlog of 128, one thread per "
              "connection); these are connections it reset or refused under that load.")
    ratios = results.get("ratios")
    if ratios:
        lines.append(
            f"- **Against Celery + Redis** (no durable task state, no API hop): Taskhook's throughput is "
            f"{_num(ratios['throughput'], 2)}× Celery's and its CPU per task {_num(ratios['cpuPerTaskTotal'], 1)}× "
            "with the emulator counted; what Taskhook pays for is a durable, queryable task row with a "
            "conditional write per transition, the stream outbox and the HTTP API in front.")
    return lines + [""]


def _reproduce() -> list[str]:
    return [
        "## How to reproduce", "",
        "```bash",
        "make bench         # full run (~15 min): writes bench/results.json and this report",
        "make bench-quick   # smaller and fewer runs, under 2 minutes (overwrites both files)",
        "make soak          # 10,000-task no-loss soak with two runner kills: bench/soak.json + this report",
        "python -m bench.report   # re-render this file from results.json and soak.json",
        "```", "",
        "`make bench` installs `bench/requirements.txt` (pinned Celery and redis client) into `.venv` and "
        "`redis-server` with apt-get when it is missing. Everything runs on 127.0.0.1: the local stack "
        "(`python -m infra.local_stack`, its own state directory), the target (`python -m bench.target`), "
        "redis-server and the Celery worker are started and stopped by the harness (`bench/harness.py`). "
        "The brief soak in `make test` is `tests/e2e/test_soak.py`.", "",
    ]


def render(results: dict[str, Any], soak: dict[str, Any] | None) -> str:
    lines = [
        "# Taskhook benchmark report", "",
        "Generated by `bench/report.py` from `bench/results.json`"
        + (" and `bench/soak.json`" if soak else "")
        + ": every figure below comes from a run on the machine described; do not edit by hand.", "",
        "Caveat: the machine is shared. The \"other processes' CPU\" figures show how much CPU the rest of the "
        "machine used while each run was measured; on two cores that load slows every latency and throughput "
        "figure here, for both systems alike (they are measured interleaved).", "",
    ]
    lines += _headline(results) + _machine(results) + _api(results) + _e2e(results) + _ratios(results)
    lines += _delay(results) + _cost(results) + _vault(results) + _providers(results) + _fairness(results)
    lines += _idle(results) + _soak(soak)
    lines += _findings(results) + _reproduce()
    return "\n".join(lines).rstrip() + "\n"


def write(results_file: Path, out: Path, soak_file: Path | None = None) -> None:
    results = json.loads(results_file.read_text())
    soak_file = soak_file or results_file.with_name("soak.json")
    soak = json.loads(soak_file.read_text()) if soak_file.exists() else None
    out.write_text(render(results, soak))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    results_file = Path(args[0]) if args else HERE / "results.json"
    out = Path(args[1]) if len(args) > 1 else HERE / "report.md"
    write(results_file, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
