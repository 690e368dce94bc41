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
# The peers (bench/harness.py PEERS), in the report's order, and the results.json key of the ratios
# against each. A results.json from before the second peer has "celery" and "ratios" only.
PEER_LABELS = {"celery": "Celery", "celeryResults": "Celery + result backend"}
RATIO_KEYS = {"celery": "ratios", "celeryResults": "ratiosResultBackend"}


def _peers(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """system -> its e2e summary, for each peer measured in the run."""
    e2e = results["scenarios"].get("e2e", {})
    return {system: e2e[system]["summary"] for system in PEER_LABELS if system in e2e}


def _ratio_sets(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(peer label, ratios) for each peer with ratios in the results."""
    return [(PEER_LABELS[system], results[key]) for system, key in RATIO_KEYS.items() if results.get(key)]


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


def _probe(m: dict[str, Any]) -> str:
    """The speed probe at the start of the run and, when measured, at its end."""
    end = m.get("speedProbeAtEndMs")
    return f"{m['speedProbeMs']:.1f} ms at the start" + (f", {end:.1f} ms at the end" if end is not None else "")


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
            *([["Repriced", f"{results['repriced']['date']} at `{results['repriced']['git']}`: the same measured "
                            "runs (calls, items, CPU) priced by that commit's cost model, template and prices "
                            "(`python -m bench.harness --resummarize`)"]] if results.get("repriced") else []),
            ["CPU", f"{m['cpuModel']}, {m['cores']} cores"],
            ["Memory", f"{m['memoryGiB']} GiB"],
            ["OS", f"{m['os']}"],
            ["Python", f"{m['python']} ({m['pythonImplementation']})"],
            ["Packages", packages],
            ["redis-server", m.get("redisServer") or DASH],
            ["Load average at start", " ".join(f"{x:.2f}" for x in m["loadAverageAtStart"])],
            *([["Speed probe", f"{_probe(m)}: CPU ms of one fixed Python workload (`bench/system.py` `speed_probe`), "
                               "lower is faster. The CPU figures here scale with it: on this shared machine the "
                               "same scenario has taken twice the CPU per task from one hour to the next"]]
              if "speedProbeMs" in m else []),
        ]),
    ]


def _headline(results: dict[str, Any]) -> list[str]:
    s = results["scenarios"]
    e2e = s.get("e2e", {}).get("taskhook", {}).get("summary", {})
    peers = _peers(results)
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
    for system, celery in peers.items():
        rows.append([f"End to end ({PEER_LABELS[system]})", f"{mmm(celery['tasksPerSecond'])} tasks/s, p50 "
                     f"{mmm(celery['e2eP50Ms'], 0)} ms, p99 {mmm(celery['e2eP99Ms'], 0)} ms, "
                     f"{mmm(celery['callsPerTask'], 2)} target calls/task"])
    paced = s.get("e2ePaced", {})
    if paced:
        rows.append(["Paced end to end, p50 / p99", "; ".join(
            f"{'Taskhook' if system == 'taskhook' else PEER_LABELS[system]} "
            f"{mmm(paced[system]['summary']['e2eP50Ms'], 0)} / {mmm(paced[system]['summary']['e2eP99Ms'], 0)} ms"
            for system in ("taskhook", *PEER_LABELS) if system in paced)])
    cold = s.get("coldStart")
    if cold:
        functions = cold["functions"]
        init = max(functions, key=lambda name: functions[name]["initMs"]["median"])
        total = max(functions, key=lambda name: functions[name]["coldMs"]["median"])
        rows.append(["Cold start: init (interpreter + `import app`), every entry point",
                     f"at most {functions[init]['initMs']['median']:.0f} ms median ({init}; limit "
                     f"{cold['limitMs']:.0f} ms), {functions[init]['modules']} modules; with the first request "
                     f"at most {functions[total]['coldMs']['median']:.0f} ms ({total})"])
    if delay:
        err = delay["absErrorMs"]
        rows.append(["Delay precision \\|first call − delayUntil\\|",
                     f"p50 {_num(err.get('p50'))} ms, p99 {_num(err.get('p99'))} ms, max {_num(err.get('max'))} ms"])
    if e2e:
        rows.append(["AWS requests per task", f"{mmm(e2e['awsRequestsPerTask'], 2)} "
                     f"({mmm(e2e['billedRequestsPerTask'], 2)} billed)"])
        cost_row = f"${mmm(e2e['usdPerMillionTasks'], 2)} on demand"
        if e2e.get("usdPerMillionTasksProvisioned"):
            cost_row += f", ${mmm(e2e['usdPerMillionTasksProvisioned'], 2)} provisioned (70 %)"
        large = s.get("e2eLargeAnswer", {}).get("summary")
        if large:
            cost_row += (f"; with 64 KB answers ${mmm(large['usdPerMillionTasks'], 2)} / "
                         f"${mmm(large['usdPerMillionTasksProvisioned'], 2)}")
        prices = e2e["costOfMedianRun"]["prices"]
        rows.append(["Cost per million tasks on AWS (1 KB body and answer)", cost_row + f"; of which Lambda "
                     f"duration ${mmm(e2e.get('usdPerMillionTasksLambdaDuration'), 2)}; prices: "
                     f"{prices['region']}, as of {prices['asOf']}"])
        if e2e.get("writeUnitsPerTask"):
            rows.append(["DynamoDB units per task (1 KB)", f"{mmm(e2e['writeUnitsPerTask'], 2)} WCU, "
                         f"{mmm(e2e['readUnitsPerTask'], 2)} RCU"])
        cpu = e2e["cpuSecondsPer1000"]
        rows.append(["CPU seconds per 1000 tasks", f"Taskhook's code {mmm(cpu['own'], 2)}, emulator "
                     f"{mmm(cpu['infrastructure'], 2)}"])
    floor = s.get("floor", {}).get("summary")
    if floor:
        per_task = floor["perTaskMs"]
        rows.append(["Floor: the five AWS calls of a task with boto3 against moto, none of Taskhook's own work",
                     f"{mmm(per_task['total'])} CPU ms a task (client {mmm(per_task['client'])}, emulator "
                     f"{mmm(per_task['emulator'])}): at most {mmm(floor['tasksPerSecondOnTwoCores'])} tasks/s on two "
                     f"fully busy cores, {mmm(floor['tasksPerSecondOnTheEmulatorsCore'])} on the emulator's one"])
    for label, ratios in _ratio_sets(results):
        paced_ratio = (f", paced e2e p50 {_num(ratios['pacedE2eP50'], 2)}× p99 {_num(ratios['pacedE2eP99'], 2)}×"
                       if "pacedE2eP50" in ratios else "")
        rows.append([f"Taskhook / {label}", f"throughput {_num(ratios['throughput'], 2)}×, e2e p50 "
                     f"{_num(ratios['e2eP50'], 2)}×, e2e p99 {_num(ratios['e2eP99'], 2)}×{paced_ratio}, CPU per task "
                     f"{_num(ratios['cpuPerTaskOwnCode'], 2)}× (own code) / {_num(ratios['cpuPerTaskTotal'], 2)}× "
                     "(with emulator vs redis)"])
    return ["## Headline figures", "", "Median over repeated runs, (min–max) when they differ.", "",
            *_table(["", ""], rows)]


def _floor(results: dict[str, Any]) -> list[str]:
    entry = results["scenarios"].get("floor") or {}
    if "summary" not in entry:  # none, or a run from before the floor was measured per burst
        return []
    floor, runs = entry["summary"], entry["runs"]
    rows = []
    for name, call in floor["perCall"].items():
        rows.append([name, mmm(call["clientMs"], 2), mmm(call["emulatorMs"], 2), mmm(call["bothMs"], 2)])
    per_task = floor["perTaskMs"]
    rows.append(["**a task (one of each)**", mmm(per_task["client"], 2), mmm(per_task["emulator"], 2),
                 f"**{mmm(per_task['total'], 2)}**"])
    lines = ["## The floor boto3 and moto set", "",
             "`bench/scenarios/floor.py`: the five AWS calls every task makes, as the stack makes them (the API's "
             "key lookup, the create's SendMessage and PutItem, the executor's claim and end: the same "
             "expressions and kinds of value, `tests/functional/test_bench_floor.py`), each made "
             f"{runs[0]['calls']:,} times by a plain boto3 client, against an emulator of the floor's own "
             "(`python -m infra.emulator`: moto with the local stack's changes, without the stack's snapshots), "
             "with the stack's processes and the peers frozen. The rows are copies of rows the stack stored in "
             "this run. " + (f"Measured {len(runs)} times, each right after one of the stack's bursts, at the "
                             "machine's speed of that moment. " if floor.get("stackAboveFloorMs") else
                             "Measured once, alone (`--only floor`). ") +
             "CPU ms per call: the client's thread and the emulator's process; median (min–max) over the runs.", "",
             *_table(["call", "client", "emulator", "both"], rows)]
    above = floor.get("stackAboveFloorMs")
    if above:
        lines += [f"Taskhook's whole stack, per burst, against the floor measured right after it: "
                  f"{mmm(above, 2)} CPU ms a task above it. That is everything but these five calls: the API's "
                  "HTTP handling and validation, the target call, the stream, notifications, batch calls and "
                  "the stack's snapshots.", ""]
    lines += [f"At this floor, with none of Taskhook's own work and nothing else on the machine, two fully busy "
              f"cores run at most {mmm(floor['tasksPerSecondOnTwoCores'])} tasks/s; the emulator, one process "
              f"(one core at most), at most {mmm(floor['tasksPerSecondOnTheEmulatorsCore'])}. Issue 17 asks for "
              "100 tasks/s, a budget of 20 CPU ms a task for every process of the stack.", ""]
    return lines


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
    peers = _peers(results)
    header = ["", "Taskhook"] + [PEER_LABELS[system] for system in peers]
    t = e2e["taskhook"]["summary"]

    def row(label: str, key: str, digits: int = 1) -> list[str]:
        return [label, mmm(t[key], digits)] + [mmm(c[key], digits) for c in peers.values()]

    def cpu(label: str, key: str) -> list[str]:
        return [label, mmm(t["cpuSecondsPer1000"][key], 2)] + [mmm(c["cpuSecondsPer1000"][key], 2)
                                                              for c in peers.values()]

    rows = [
        row("tasks/s sustained", "tasksPerSecond"),
        row("create calls/s achieved", "createRate"),
        row("e2e p50 ms", "e2eP50Ms", 0), row("e2e p95 ms", "e2eP95Ms", 0), row("e2e p99 ms", "e2eP99Ms", 0),
        row("target calls per task", "callsPerTask", 2),
        cpu("CPU s / 1000 tasks: own code", "own"),
        cpu("CPU s / 1000 tasks: emulator / broker", "infrastructure"),
        cpu("CPU s / 1000 tasks: total", "total"),
        row("other processes' CPU s during a run", "otherProcessesCpuSeconds"),
    ]
    paced = results["scenarios"].get("e2ePaced", {})
    if paced:
        for key, label in (("e2eP50Ms", "paced e2e p50 ms"), ("e2eP99Ms", "paced e2e p99 ms")):
            rows.append([label] + [mmm(paced[system]["summary"][key], 0) if system in paced else DASH
                                   for system in ("taskhook", *peers)])
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
        lines += [f"Peers: Celery {results['machine']['packages'].get('celery')} with a Redis broker "
                  f"(redis-server {results['machine'].get('redisServer')}), one worker process, pool "
                  f"`{peer['pool']}` with concurrency {peer['concurrency']} (Taskhook's runner is one process: "
                  "4 lane threads, each running a batch of up to 10 records on an asyncio default executor of "
                  "min(32, cores + 4) = 6 threads, so up to 24 calls at once), `acks_late` (at-least-once, as "
                  "Taskhook). **Celery**: no result backend (Celery keeps no task state; Taskhook writes every "
                  "transition to DynamoDB): the raw broker."
                  + (" **Celery + result backend**: the same worker and task with a Redis result backend and "
                     "`task_track_started=True`, so Celery stores the task's state at every transition (STARTED, "
                     "RETRY, SUCCESS), as Taskhook does: the like-for-like peer. Each peer has its own "
                     "redis-server and worker; while one system is measured the others are frozen."
                     if "celeryResults" in peers else ""), ""]
    rss_rows = []
    for name, stat in t["peakRssMb"].items():
        rss_rows.append([f"taskhook: {name}", mmm(stat, 0)])
    for system, c in peers.items():
        for name, stat in c["peakRssMb"].items():
            rss_rows.append([f"{PEER_LABELS[system]}: {name}", mmm(stat, 0)])
    cpu_rows = [[f"taskhook: {name}", mmm(stat, 2)] for name, stat in t["cpuSecondsPer1000ByProcess"].items()]
    for system, c in peers.items():
        cpu_rows += [[f"{PEER_LABELS[system]}: {name}", mmm(stat, 2)]
                     for name, stat in c["cpuSecondsPer1000ByProcess"].items()]
    lines += ["### CPU seconds per 1000 tasks and peak RSS, per process", "",
              "CPU = utime + stime from /proc/<pid>/stat over the run; peak RSS = VmHWM from /proc/<pid>/status, "
              "reset at the start of each run (clear_refs). Taskhook's own code = every process of the stack but the "
              f"emulator ({', '.join(n for n in t['cpuSecondsPer1000ByProcess'] if n != 'emulator')}); the "
              "emulator is moto's server.", "",
              *_table(["process", "CPU s / 1000 tasks"], cpu_rows),
              *_table(["process", "peak RSS MB"], rss_rows)]
    return lines


def _ratios(results: dict[str, Any]) -> list[str]:
    sets = _ratio_sets(results)
    if not sets:
        return []
    figures = [("throughput (tasks/s)", "throughput"), ("e2e p50 (burst)", "e2eP50"), ("e2e p99 (burst)", "e2eP99"),
               ("e2e p50 (paced)", "pacedE2eP50"), ("e2e p99 (paced)", "pacedE2eP99"),
               ("CPU per task, own code (api+runner vs worker)", "cpuPerTaskOwnCode"),
               ("CPU per task, total (with moto vs with redis)", "cpuPerTaskTotal")]
    rows = [[label] + [_num(r.get(key), 2) for _label, r in sets] for label, key in figures
            if any(key in r for _label, r in sets)]
    return ["## Taskhook / Celery", "", "Ratios of the medians (above 1 means Taskhook's figure is larger): against "
            "the raw broker (Celery) and against the like-for-like peer that stores every transition "
            "(Celery + result backend).", "",
            *_table(["figure"] + [f"Taskhook / {label}" for label, _r in sets], rows)]


def _cold_start(results: dict[str, Any]) -> list[str]:
    cold = results["scenarios"].get("coldStart")
    if not cold:
        return []

    def ms(stat: dict[str, Any]) -> str:
        return f"{stat['median']:.0f} ({stat['min']:.0f})"

    rows = [[name, f"`{f['handler']}`", ms(f["interpreterMs"]), ms(f["importMs"]), ms(f["initMs"]),
             ms(f["firstRequestMs"]), ms(f["coldMs"]), str(f["modules"]), str(f["modulesAfterRequest"]),
             ", ".join(m for m in f["heavyAfterRequest"] if m != "chalice") or DASH, ", ".join(f["answers"])]
            for name, f in cold["functions"].items()]
    return ["## Cold start per Lambda entry point", "",
            f"`bench/cold_start.py`: each function of template.yaml (its `Handler:`; the API function once per "
            f"kind of route) started {cold['repeats']} times in a fresh `python` {cold['python']} process against "
            "this run's emulator, median (min) in ms. Every function's handler is `app.<name>` on both deploy "
            "paths, so Lambda's init imports `app.py` for each: *init* = interpreter start (spawn to the first "
            "statement) + `import app`, what Lambda reports as Init Duration; *first request* = the sample event "
            "of tests/events/ through the handler: the function's own modules, imported on its first event, the "
            "composition root's clients and models, and its AWS calls against moto; *cold* = init + first "
            "request. Modules: beyond the bare interpreter's, after the import and after the first request; "
            "heavy: which of the large packages and stages the function had loaded at the end. "
            f"Limit: init ≤ {cold['limitMs']:.0f} ms (issue 17); slowest median here "
            f"{cold['worstInitMedianMs']:.0f} ms. `tests/unit/test_cold_start_imports.py` keeps the import "
            "graph so (no timing).", "",
            *_table(["entry point", "handler", "interpreter", "import", "init", "first request", "cold",
                     "modules", "after request", "heavy after request", "answers"], rows)]


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


def _cost_runs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, cost of the median run) of the 1 KB e2e run and of the large-answer run."""
    scenarios = results["scenarios"]
    out = []
    for key in ("e2e", "e2eLargeAnswer"):
        entry = scenarios.get(key, {})
        entry = entry.get("taskhook", entry) if key == "e2e" else entry
        summary = entry.get("summary") if entry else None
        if summary and summary.get("costOfMedianRun"):
            c = summary["costOfMedianRun"]
            answer = c.get("sizes", {}).get("answerBytes")
            label = f"{answer / 1024:g} KB answer" if answer and answer >= 1024 else f"{answer or '?'} B answer"
            out.append((label, c))
    return out


def _usd(value: Any) -> str:
    return DASH if value is None else f"${value:,.2f}"


def _dynamo_rows(runs: list[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    keys: list[tuple[str, str]] = []
    for _label, c in runs:
        for table, indexes in (c.get("dynamodb") or {}).get("byTable", {}).items():
            for index in indexes:
                if (table, index) not in keys:
                    keys.append((table, index))
    rows = []
    for table, index in keys:
        row = [table, index or "(table)"]
        for _label, c in runs:
            entry = (c.get("dynamodb") or {}).get("byTable", {}).get(table, {}).get(index, {})
            row += [f"{entry.get('write', 0):.3f}", f"{entry.get('read', 0):.3f}"]
        rows.append(row)
    totals = ["**all tables**", ""]
    for _label, c in runs:
        d = c.get("dynamodb") or {}
        totals += [f"**{d.get('writeUnitsPerTask', 0):.3f}**", f"**{d.get('readUnitsPerTask', 0):.3f}**"]
    return rows + [totals]


def _vcpu(runs: list[tuple[str, dict[str, Any]]]) -> str:
    shares = {rc.get("lambdaDuration", {}).get("vcpuShare") for _l, rc in runs} - {None}
    return ", ".join(f"{share:.3f} vCPU" for share in sorted(shares)) or "not measured"


def _change_rows(label: str, c: dict[str, Any]) -> list[list[str]]:
    changes = (c.get("dynamodb") or {}).get("tasksTableChanges", {})
    indexes = sorted({i for ch in changes.values() for i in ch["indexes"]})
    rows = []
    for change, ch in changes.items():
        total = ch["table"] + sum(ch["indexes"].values())
        rows.append([label, change, f"{ch['perTask']:.3f}", _num(ch["itemBytesMax"]), f"{ch['table']:g}",
                     ", ".join(f"{i} {ch['indexes'].get(i, 0):g}" for i in indexes if ch["indexes"].get(i)) or DASH,
                     f"{total:g}"])
    return rows


def _cost(results: dict[str, Any]) -> list[str]:
    runs = _cost_runs(results)
    if not runs:
        return []
    from . import units

    label, c = runs[0]
    prices = cost.load_prices()
    assumptions = prices["assumptions"]
    api = c.get("api", {"deployed": "rest", "other": "http", "chalice": "rest"})
    api_name = {"rest": "REST API", "http": "HTTP API"}
    headline = []
    for run_label, rc in runs:
        d = rc.get("dynamodb") or {}
        other = rc.get("usdPerMillionTasksOtherApi", {})
        wall = rc.get("usdPerMillionTasksLambdaWallTime", {})
        headline.append([run_label, f"**{_usd(rc['usdPerMillionTasks'])}**",
                         f"**{_usd(rc.get('usdPerMillionTasksProvisioned'))}**",
                         f"{_usd(other.get('onDemand'))} / {_usd(other.get('provisioned'))}",
                         f"{_usd(wall.get('onDemand'))} / {_usd(wall.get('provisioned'))}",
                         f"{d.get('writeUnitsPerTask', 0):.2f}", f"{d.get('readUnitsPerTask', 0):.2f}",
                         f"{rc['awsRequestsPerTask']:.2f} ({rc['billedRequestsPerTask']:.2f} billed)",
                         str(rc["tasks"])])
    size_rows = []
    for run_label, rc in runs:
        z = rc.get("sizes", {})
        size_rows.append([run_label, _num(z.get("createRequestBytes")), _num(z.get("requestBodyBytes")),
                          _num(z.get("answerBytes")),
                          ", ".join(f"{t} {_num(b)}"
                                    for t, b in (rc.get("dynamodb") or {}).get("largestItems", {}).items() if b)])
    change_rows = [row for run_label, rc in runs for row in _change_rows(run_label, rc)]
    rows = [[r["function"], r["service"], r["operation"], f"{r['perTask']:.3f}",
             f"{r['emptyReceivesPerTask']:.3f}" if r["emptyReceivesPerTask"] else "",
             r["billedAs"] or "not billed per request"] for r in c["requests"]]
    lambda_rows = [[fn, f"{v['invocationsPerTask']:.3f}", _num(v["recordsPerInvocation"], 2),
                    _num(v["msPerInvocation"], 1)] for fn, v in c["lambda"].items()]
    duration_rows = []
    for run_label, rc in runs:
        ld = rc.get("lambdaDuration", {})
        duration_rows.append([run_label, _num(1000 * ld["cpuSecondsPerTask"], 1) if "cpuSecondsPerTask" in ld else DASH,
                              _num(1000 * ld.get("callLatencySecondsPerTask", 0), 1),
                              _num(1000 * ld["estimateSecondsPerTask"], 1) if "estimateSecondsPerTask" in ld else DASH,
                              _num(1000 * ld.get("wallSecondsPerTask", 0), 1)])
    entries = sorted({e for _l, rc in runs for e in rc["cost"]})
    cost_rows = []
    for entry in entries:
        price = prices["prices"][entry]
        row = [entry, f"${price['usd']:.10g} per {price['per']:,}"]
        for _l, rc in runs:
            line = rc["cost"].get(entry, {"perTask": 0.0, "usdPerMillionTasks": 0.0})
            row += [f"{line['perTask']:.4f}", f"${line['usdPerMillionTasks']:.3f}"]
        cost_rows.append(row)
    utilisation = assumptions["provisionedUtilisation"]["value"]
    for entry, hourly in (("dynamodb.writeRequestUnit", "dynamodb.provisioned.wcuHour"),
                          ("dynamodb.readRequestUnit", "dynamodb.provisioned.rcuHour")):
        row = [f"{entry}, provisioned", f"${prices['prices'][hourly]['usd']:g} per unit-hour at "
               f"{utilisation:.0%} use"]
        for _l, rc in runs:
            line = rc.get("provisionedDynamodb", {}).get(entry, {"perTask": 0.0, "usdPerMillionTasks": 0.0})
            row += [f"{line['perTask']:.4f}", f"${line['usdPerMillionTasks']:.3f}"]
        cost_rows.append(row)
    note_rows = [[note, f"{per:.3f}"] for note, per in (c.get("dynamodb") or {}).get("notesPerTask", {}).items()]
    price_rows = [[name, f"${p['usd']:.10g}", f"{p['per']:,}", p["what"]] for name, p in prices["prices"].items()]
    text = (cost.__doc__ or "").split("Approximations (printed in the report):")[1].strip()
    approximations = [" ".join(part.split()) for part in text.lstrip("- ").split("\n- ")]
    latency = ", ".join(f"{k} {v} ms" for k, v in assumptions["awsCallLatencyMs"]["value"].items())
    labels = [run_label for run_label, _ in runs]
    return [
        "## Cost on AWS per million tasks", "",
        f"Pricing basis: **{prices['region']}**, {prices['currency']}, prices as of **{prices['asOf']}** "
        f"({prices['source']}, `bench/prices.json`). Plain HTTP tasks through the whole local stack "
        "(create, stream dispatch, lane, executor, finish), each task's body a realistic 1 KB JSON document and "
        "the target's answer the JSON of the size named (stored inline in the task up to 64 KB). "
        f"The API as template.yaml deploys it: **{api_name[api['deployed']]}**; the {api_name[api['other']]} "
        f"beside it is the lever; the Chalice deploy path deploys a {api_name[api['chalice']]} "
        f"(${prices['prices'][cost.API_ENTRY[api['chalice']]]['usd']:.2f} per million requests). "
        f"Provisioned: DynamoDB capacity bought by the hour at {utilisation:.0%} utilisation, everything else "
        "the same. "
        "Lambda duration: the estimate (measured CPU stretched by the vCPU share the memory buys + AWS calls x "
        "assumed latency); the wall-time column prices the local wall time instead (moto's latency included, "
        "on whole cores).", "",
        *_table(["answer", "on demand", f"provisioned {utilisation:.0%}",
                 f"{api_name[api['other']]} instead: on demand / provisioned",
                 "Lambda at local wall time: on demand / provisioned", "WCU / task", "RCU / task",
                 "AWS requests / task", "tasks in the run"], headline),
        "### DynamoDB capacity units per task, per table and per index", "",
        "From the items the stack wrote and read (`bench/units.py`, DynamoDB's rules in `bench/capacity.py`): "
        "the tasks table's writes from its stream's old and new images (the run's own tasks), every other call "
        "priced in the process that made it (`infra/aws_calls.py`). (table) is the table itself; an index row is "
        "what writing or querying that index costs.", "",
        *_table(["table", "index", *[h for lbl in labels for h in (f"{lbl}: WCU", f"{lbl}: RCU")]], _dynamo_rows(runs)),
        "The tasks table's writes by change (from the stream): units per write of that change, on the table "
        "and on each index it touches (a status change moves the item between index keys: a delete and a put).", "",
        *_table(["answer", "change", "writes per task", "largest item, bytes", "table WCU", "index WCU", "total WCU"],
                change_rows),
        "Sizes the figures assume (bytes): the create request (`POST /v1/tasks`'s JSON), the task's body inside "
        "it, the target's answer, and the largest item priced per table.", "",
        *_table(["answer", "create request", "task body", "answer", "largest item per table"], size_rows),
        *(["Calls priced as lower bounds or apart, per task (1 KB run; `bench/units.py` assumptions):", "",
           *_table(["table, operation: note", "per task"], note_rows)] if note_rows else []),
        f"### AWS requests per task ({label}, {c['tasks']} tasks)", "",
        "Counted, not estimated: every process of the stack wraps botocore's `BaseClient._make_api_call` "
        "(`infra/aws_calls.py`, on when `TASKHOOK_AWS_CALL_LOG` is set), which also sees PynamoDB's and "
        "Powertools' clients, and attributes each call to the Lambda it ran in (also on the worker threads "
        "a handler submits to). DynamoDB calls are billed by the units above, not per call.", "",
        *_table(["function", "service", "operation", "per task", "+ empty receives", "billed as"], rows),
        f"AWS requests per task: {c['awsRequestsPerTask']:.3f}, of which billed per request on AWS: "
        f"{c['billedRequestsPerTask']:.3f} (by service: "
        + ", ".join(f"{k} {v}" for k, v in c["requestsPerTaskByService"].items()) + ").", "",
        *_table(["Lambda function", "invocations per task", "records per invocation", "ms per invocation (local)"],
                lambda_rows),
        f"Lambda duration per task, ms (memory {c['memoryGb']:g} GB, template.yaml `Globals.Function.MemorySize`): "
        f"CPU = the api and runner processes' CPU over the run per task, on whole cores; on Lambda it runs on "
        f"the share of a vCPU the memory buys ({_vcpu(runs)}: one vCPU at 1,769 MB), so it bills 1 / share as long; "
        f"calls = the AWS calls made inside invocations x the assumed latency ({latency}); the estimate is "
        f"CPU / share + calls; wall = local wall time (whole cores, moto's latency in it).", "",
        *_table(["answer", "CPU", "calls x latency", "estimate (used)", "local wall"], duration_rows),
        "### Cost lines", "",
        *_table(["price entry", "price",
                 *[h for lbl in labels for h in (f"{lbl}: units / task", f"{lbl}: $ / million")]],
                cost_rows),
        f"Price table (`bench/prices.json`), region {prices['region']}, {prices['currency']}. "
        f"**{prices['source']}** — {prices['note']}", "",
        *_table(["entry", "price", "per", "what"], price_rows),
        "Assumptions (`bench/prices.json`): " + "; ".join(
            f"{name}: {value['value']} ({value['what']})" for name, value in assumptions.items()
            if isinstance(value, dict)), "",
        "Approximations:", "", *[f"- {a}" for a in approximations if a],
        *[f"- {a}" for a in units.ASSUMPTIONS], "",
    ]


def cost_summary(results: dict[str, Any]) -> str:
    """What `make bench` prints at the end: the cost table, the units per table and index, the
    sizes, and the requests per task (the report holds the rest)."""
    lines = _cost(results)
    end = next((i for i, line in enumerate(lines) if line.startswith("### AWS requests per task")), len(lines))
    requests = next((line for line in lines[end:] if line.startswith("AWS requests per task:")), "")
    return "\n".join([*lines[:end], requests]).rstrip() + "\n"


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


LIST_CALLS = {
    "first": "first page", "cursor90": "page by cursor, 90 % in", "failed": "status=failed",
    "delayed": "status=delayed (open)", "pending": "status=pending (open, none match)",
}


def _list_call_label(name: str) -> str:
    if name.startswith("offset") and name != "offset90":
        return f"offset={name[len('offset'):]}"
    return "offset at 90 %" if name == "offset90" else LIST_CALLS.get(name, name)


def _offset_note(li: dict[str, Any]) -> str:
    """What the offsets cost beyond the first page, from the measured index reads."""
    parts = []
    rate = None  # offset rows skipped per RCU of keys, from the deepest offset measured
    deepest = 0
    for size, entry in li["sizes"].items():
        first = entry["calls"].get("first", {}).get("rcuByTableIndex", {})
        base = sum(v for k, v in first.items() if k.endswith("|byTeamPhase"))
        for name, c in entry["calls"].items():
            if not name.startswith("offset"):
                continue
            keys = sum(v for k, v in c["rcuByTableIndex"].items() if k.endswith("|byTeamPhase"))
            offset = int(c["params"]["offset"])
            parts.append(f"offset={offset:,} at {int(size):,} tasks reads {keys:g} RCU of index keys "
                         f"({keys - base:+g} over the first page, {c['rcuPerCall']:g} RCU in all)")
            if offset > deepest and keys > base:
                deepest, rate = offset, offset / (keys - base)
    if not parts:
        return "offsets were not measured."
    note = ("an offset reads every index key before it, in each partition it merges: " + "; ".join(parts) + ".")
    if rate:
        note += f" That is about 1 RCU per {rate:,.0f} rows skipped"
        largest = max(int(n) for n in li["sizes"])
        if "offset90" not in li["sizes"][str(largest)]["calls"]:
            note += (f"; an offset 90 % into {largest:,} tasks (not measured in this run; on moto each of its "
                     f"key pages re-examines the whole table) would read about {0.9 * largest / rate:,.0f} RCU of keys")
        note += (". An offset's cost follows the offset (and each partition reads whole key pages of up to "
                 "1,000, so a little more once the partitions are full), so an offset near the end grows with "
                 "the team.")
    return note


def _lists(results: dict[str, Any]) -> list[str]:
    li = results["scenarios"].get("lists")
    if not li:
        return []
    sizes = list(li["sizes"])
    names: list[str] = []
    for entry in li["sizes"].values():
        names += [n for n in entry["calls"] if n not in names]
    shallow = [n for n in names if n.startswith("offset") and n != "offset90"]
    names = [n for n in names if n not in shallow] + (["offset (5000, or 90 % of 1k)"] if shallow else [])

    def call(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
        if name.startswith("offset ("):
            found = [entry["calls"][n] for n in entry["calls"] if n.startswith("offset") and n != "offset90"]
            return found[0] if found else None
        return entry["calls"].get(name)

    def cell(entry: dict[str, Any], name: str, field: str, digits: int = 1) -> str:
        c = call(entry, name)
        return DASH if c is None else _num(float(c[field]), digits)

    header = ["call (limit 100)"] + [f"{int(n):,}: RCU" for n in sizes] + [f"{int(n):,}: p50 ms" for n in sizes]
    rows = []
    for name in names:
        label = name if name.startswith("offset (") else _list_call_label(name)
        rows.append([label] + [cell(li["sizes"][n], name, "rcuPerCall") for n in sizes]
                    + [cell(li["sizes"][n], name, "p50Ms", 0) for n in sizes])
    detail = []
    for n in sizes:
        entry = li["sizes"][n]
        for name, c in entry["calls"].items():
            detail.append([f"{int(n):,}", _list_call_label(name), str(c["repeats"]), str(c["rows"]), f"{c['total']:,}",
                           ", ".join(f"{k} {v:g}" for k, v in c["rcuByTableIndex"].items()),
                           ", ".join(f"{k} {v:g}" for k, v in c["dynamoCallsPerCall"].items())])
    seeding = [[f"{int(n):,}", f"{e['seeding']['added']:,}", _num(e["seeding"]["seedSeconds"]),
                f"{e['seeding']['itemsPerSecond']:,}",
                ", ".join(f"{s} {k:,}" for s, k in sorted(e["mix"].items()))] for n, e in li["sizes"].items()]
    return ["## Lists as a team grows", "",
            f"One team seeded with {', '.join(f'{int(n):,}' for n in sizes)} tasks (`bench/scenarios/lists.py`: "
            "BatchWriteItem of the repository's own rows, "
            f"{li['openTasks']} open (delayed), the rest mostly completed, 5 % failed, 2 % cancelled, 1 % timeout; "
            "the team's TeamStats counts set to the mix). Each call is `GET /v1/tasks` through the API with the "
            f"team's key, limit {li['page']}, the median of {li['repeats']} calls (deep offsets: one). "
            "RCU per call: DynamoDB's rules applied to what the API read (the byTeamPhase Query of keys, the "
            "BatchGetItem of the page's items at 0.5 RCU each, the TeamStats GetItem of the total, the key's "
            "lookup when not cached).", "",
            *_table(header, rows),
            "Flat: the first page, a page reached by cursor, and a status filter read about the same units at "
            "every size once each partition holds a page (about 50 RCU of them is the page's 100 items, each "
            "rounded up to 0.5 RCU by BatchGetItem; 1.5 RCU the key, plan and TeamStats GetItems; a partition "
            "with fewer than 100 tasks answers a short page for less; the index keys a merged page reads are "
            "bounded by five partitions of 101 keys). An open-status filter reads the open "
            "partition's items, bounded by the team's open tasks, not its history. Not flat: "
            + _offset_note(li) + " The cursor is the way to go deep. Latency here is not flat either, and that "
            "is the emulator: moto's Query of an index examines every item of the table (`Table.query` in "
            "moto/dynamodb/models/table.py), so each of a call's Queries (up to five partitions) takes longer as "
            "the table grows, whatever the API reads; DynamoDB reads only the partition's range a Query asks "
            "for, and the read units above are what it bills.", "",
            *_table(["tasks", "call", "calls", "rows", "total", "RCU per call by table|index",
                     "DynamoDB calls per call"], detail),
            *_table(["size", "tasks added", "seed s", "items/s", "mix"], seeding)]


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
            "receive cost about 5 s with 5,000 messages queued); without it the 10,000-task soak stalled. It also "
            "serves moto with waitress, which keeps each client's connection open: moto's werkzeug server closed "
            "it after every answer, so each AWS call cost a TCP connection and a thread.")
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
                f"- **Each task costs two writes in the executor.** {_num(executor['recordsPerInvocation'], 2)} "
                f"records per invocation and {_num(executor['msPerInvocation'], 0)} ms each: the claim and the "
                "finish (two conditional UpdateItems), and per batch one ChangeMessageVisibilityBatch that shortens "
                "its messages' invisibility to the claim margin, so a crashed run's task is retried that soon "
                "rather than after the queue's 6 minutes. No GetItem: a create's message carries the row, and its "
                "first delivery claims from that copy on condition that the row is still at its first version "
                "(docs/dispatch.md).")
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
        backend = results.get("ratiosResultBackend")
        lines.append(
            f"- **Against Celery + Redis** (no durable task state, no API hop): Taskhook's throughput is "
            f"{_num(ratios['throughput'], 2)}× Celery's and its CPU per task {_num(ratios['cpuPerTaskTotal'], 1)}× "
            "with the emulator counted"
            + (f"; against Celery storing every transition in a Redis result backend, "
               f"{_num(backend['throughput'], 2)}× and {_num(backend['cpuPerTaskTotal'], 1)}×" if backend else "")
            + "; what Taskhook pays for is a durable, queryable task row with a "
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


def _taskhook_figures(results: dict[str, Any]) -> dict[str, str]:
    """The Taskhook figures the before/after table compares, as rendered."""
    s = results["scenarios"]
    e2e = s.get("e2e", {}).get("taskhook", {}).get("summary", {})
    paced = s.get("e2ePaced", {}).get("taskhook", {}).get("summary", {})
    figures: dict[str, str] = {}
    if e2e:
        figures["burst tasks/s (e2e scenario)"] = mmm(e2e["tasksPerSecond"])
        figures["burst e2e p50 / p99 ms"] = f"{mmm(e2e['e2eP50Ms'], 0)} / {mmm(e2e['e2eP99Ms'], 0)}"
        cpu = e2e["cpuSecondsPer1000"]
        figures["CPU s per 1000 tasks: own code / emulator"] = f"{mmm(cpu['own'], 2)} / {mmm(cpu['infrastructure'], 2)}"
        figures["AWS requests per task"] = mmm(e2e["awsRequestsPerTask"], 2)
        figures["cost per million tasks, on demand / provisioned"] = (
            f"${mmm(e2e['usdPerMillionTasks'], 2)} / ${mmm(e2e.get('usdPerMillionTasksProvisioned'), 2)}")
    if paced:
        figures["paced e2e p50 / p99 ms"] = f"{mmm(paced['e2eP50Ms'], 0)} / {mmm(paced['e2eP99Ms'], 0)}"
    return figures


def _before_after(results: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """This run beside bench/baseline.json (the run before issue 17's changes, same machine)."""
    if baseline is None:
        return []
    before, after = _taskhook_figures(baseline), _taskhook_figures(results)
    rows = [[name, before.get(name, "–"), value] for name, value in after.items()]
    return ["## Before and after (issue 17)", "",
            f"`bench/baseline.json`: the run of `{baseline['git']['commit'][:7]}` "
            f"({baseline.get('config', {}).get('mode', '')}, {baseline['date'][:10]}), before the dispatch "
            "path, the emulator's fast paths and the cold-start imports; beside it, this run. Same machine, "
            "other load: load average at the start "
            + " / ".join(" ".join(f"{x:.2f}" for x in r["machine"].get("loadAverageAtStart", [])) or "?"
                         for r in (baseline, results)) + " (before / after).", "",
            *_table(["Taskhook", "before", "after"], rows), ""]


def render(results: dict[str, Any], soak: dict[str, Any] | None, baseline: dict[str, Any] | None = None) -> str:
    lines = [
        "# Taskhook benchmark report", "",
        "Generated by `bench/report.py` from `bench/results.json`"
        + (" and `bench/soak.json`" if soak else "")
        + ": every figure below comes from a run on the machine described; do not edit by hand.", "",
        "Caveat: the machine is shared. The \"other processes' CPU\" figures show how much CPU the rest of the "
        "machine used while each run was measured; on two cores that load slows every latency and throughput "
        "figure here, for both systems alike (they are measured interleaved).", "",
    ]
    lines += _headline(results) + _before_after(results, baseline) + _machine(results) + _api(results)
    lines += _e2e(results) + _floor(results) + _ratios(results)
    lines += _cold_start(results) + _delay(results) + _cost(results) + _vault(results) + _providers(results)
    lines += _fairness(results)
    lines += _lists(results)
    lines += _idle(results) + _soak(soak)
    lines += _findings(results) + _reproduce()
    return "\n".join(lines).rstrip() + "\n"


def write(results_file: Path, out: Path, soak_file: Path | None = None) -> None:
    results = json.loads(results_file.read_text())
    soak_file = soak_file or results_file.with_name("soak.json")
    soak = json.loads(soak_file.read_text()) if soak_file.exists() else None
    baseline_file = results_file.with_name("baseline.json")
    baseline = json.loads(baseline_file.read_text()) if baseline_file.exists() else None
    out.write_text(render(results, soak, baseline))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    results_file = Path(args[0]) if args else HERE / "results.json"
    out = Path(args[1]) if len(args) > 1 else HERE / "report.md"
    write(results_file, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
