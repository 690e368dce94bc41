"""`make bench` / `make bench-quick`: runs every scenario against the real local stack and the two
Celery peers (PEERS), writes bench/results.json and renders bench/report.md from it.

    python -m bench.harness [--quick] [--no-peer] [--out bench/results.json]
    python -m bench.harness --resummarize   # summaries and ratios again from results.json's raw runs
    python -m bench.harness [--quick] --only lists   # one scenario alone, merged into results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import cold_start, cost, cost_rates, report
from .celery_peer import CONCURRENCY, POOL, CeleryPeer
from .load import spread
from .scenarios import Bench, api, delay, e2e, fairness, floor, idle, lists, providers, vault
from .stack import LocalStack, Target
from .system import git_commit, machine, now_iso, speed_probe

HERE = Path(__file__).resolve().parent
EMULATOR = "emulator"  # moto's server; every other process of the stack runs Taskhook's own code
# The peers, each measured in the same run, interleaved with Taskhook (the others frozen meanwhile):
# system name -> whether it has a result backend. "celery" is the raw broker (no task state);
# "celeryResults" stores every transition in a Redis result backend (task_track_started), as
# Taskhook writes every transition to DynamoDB. Everything else is the same (bench/celery_app.py).
PEERS: dict[str, bool] = {"celery": False, "celeryResults": True}
# results.json key of the ratios against each peer ("ratios": the raw broker, as before the second peer).
RATIO_KEYS = {"celery": "ratios", "celeryResults": "ratiosResultBackend"}

FULL: dict[str, Any] = {
    "apiClients": [1, 8, 32], "apiSeconds": 8.0, "apiRepeats": 3,
    "e2eTasks": 2000, "e2eRepeats": 3, "e2eClients": 8,
    "pacedTasks": 100, "pacedRate": 5.0, "pacedRepeats": 3,
    "delayTasks": 300, "delaySpread": [2.0, 60.0],
    "largeAnswerTasks": 300, "largeAnswerBytes": 65536,
    "idleSeconds": 10.0, "warmupTasks": 50, "vaultTasks": 500, "providerTasks": 100, "providerPolls": 3,
    "fairBurst": 500, "fairShare": 2, "fairSlowSeconds": 1.0, "fairBTasks": 20, "fairBRate": 4.0,
    "listSizes": [1000, 10000, 100000], "listRepeats": 3, "listThorough": True,
    "coldStartRepeats": 7, "floorCalls": 1000,
}
QUICK: dict[str, Any] = {
    "apiClients": [1, 8, 32], "apiSeconds": 2.0, "apiRepeats": 1,
    "e2eTasks": 100, "e2eRepeats": 2, "e2eClients": 8,
    "pacedTasks": 20, "pacedRate": 5.0, "pacedRepeats": 1,
    "delayTasks": 40, "delaySpread": [2.0, 8.0],
    "largeAnswerTasks": 20, "largeAnswerBytes": 65536,
    "idleSeconds": 3.0, "warmupTasks": 10, "vaultTasks": 50, "providerTasks": 20, "providerPolls": 3,
    "fairBurst": 100, "fairShare": 2, "fairSlowSeconds": 1.0, "fairBTasks": 8, "fairBRate": 4.0,
    "listSizes": [1000, 10000], "listRepeats": 1, "listThorough": False,
    "coldStartRepeats": 3, "floorCalls": 200,
}


def _cpu_per_1000(run: dict[str, Any], names: tuple[str, ...]) -> float:
    cpu = run["usage"]["cpuSeconds"]
    return round(1000 * sum(cpu.get(n) or 0.0 for n in names) / max(1, run["created"]), 3)


def summarize_e2e(runs: list[dict[str, Any]], system: str) -> dict[str, Any]:
    names = tuple(runs[0]["usage"]["cpuSeconds"])
    if system == "taskhook":
        own, infra = tuple(n for n in names if n != EMULATOR), (EMULATOR,)
    else:
        own, infra = ("celery-worker",), ("redis-server",)
    summary: dict[str, Any] = {
        "tasksPerSecond": spread([r["tasksPerSecond"] for r in runs]),
        "createRate": spread([r["createRate"] for r in runs]),
        "e2eP50Ms": spread([r["e2eMs"].get("p50") for r in runs]),
        "e2eP95Ms": spread([r["e2eMs"].get("p95") for r in runs]),
        "e2eP99Ms": spread([r["e2eMs"].get("p99") for r in runs]),
        "callsPerTask": spread([r["callsPerTask"] for r in runs]),
        "cpuSecondsPer1000": {
            "own": spread([_cpu_per_1000(r, own) for r in runs]),
            "infrastructure": spread([_cpu_per_1000(r, infra) for r in runs]),
            "total": spread([_cpu_per_1000(r, own + infra) for r in runs]),
        },
        "cpuSecondsPer1000ByProcess": {
            name: spread([_cpu_per_1000(r, (name,)) for r in runs]) for name in runs[0]["usage"]["cpuSeconds"]
        },
        "peakRssMb": {name: spread([r["usage"]["peakRssMb"].get(name) for r in runs])
                      for name in runs[0]["usage"]["peakRssMb"]},
        "otherProcessesCpuSeconds": spread([r["usage"]["otherProcessesCpuSeconds"] for r in runs]),
    }
    if system == "taskhook":
        costs = [run_cost(r) for r in runs]
        summary["awsRequestsPerTask"] = spread([c["awsRequestsPerTask"] for c in costs])
        summary["billedRequestsPerTask"] = spread([c["billedRequestsPerTask"] for c in costs])
        summary["usdPerMillionTasks"] = spread([c["usdPerMillionTasks"] for c in costs])
        summary["usdPerMillionTasksProvisioned"] = spread([c["usdPerMillionTasksProvisioned"] for c in costs])
        summary["writeUnitsPerTask"] = spread([(c["dynamodb"] or {}).get("writeUnitsPerTask") for c in costs])
        summary["readUnitsPerTask"] = spread([(c["dynamodb"] or {}).get("readUnitsPerTask") for c in costs])
        summary["usdPerMillionTasksLambdaDuration"] = spread(
            [c["cost"]["lambda.arm64.gbSecond"]["usdPerMillionTasks"] for c in costs])
        median_run = sorted(costs, key=lambda c: c["usdPerMillionTasks"])[len(costs) // 2]
        summary["costOfMedianRun"] = median_run
        summary["terminalStatuses"] = [r["terminalStatuses"] for r in runs]
    return summary


def run_e2e(bench: Bench, system: str, n: int, clients: int, rate: float | None = None) -> dict[str, Any]:
    """One end-to-end run through `system`: "taskhook" or one of PEERS."""
    if system == "taskhook":
        return e2e.taskhook(bench, n, clients, rate)
    return e2e.celery(bench, n, clients, rate, system=system)


def run_cost(run: dict[str, Any]) -> dict[str, Any]:
    """The cost model of one Taskhook run: its calls, its tasks' stream records, its CPU, its sizes."""
    return cost.per_task(run["awsCalls"], max(1, run["created"]), run.get("streamUnits"),
                         run["usage"]["cpuSeconds"], run.get("sizes"))


def run_large_answer(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    """The e2e run again, the target answering `largeAnswerBytes` of JSON (stored inline up to
    the inline limit, 64 KB): what a large answer costs beside the 1 KB one."""
    size = cfg["largeAnswerBytes"]
    bench.say(f"e2e taskhook, {size // 1024} KB answers: {cfg['largeAnswerTasks']} tasks, {cfg['e2eClients']} clients")
    bench.target.configure(answer_bytes=size)
    try:
        run = e2e.taskhook(bench, cfg["largeAnswerTasks"], cfg["e2eClients"])
    finally:
        bench.target.configure(answer_bytes=e2e.ANSWER_BYTES)
    summary = summarize_e2e([run], "taskhook")
    bench.say(f"  taskhook: {run['tasksPerSecond']} tasks/s, ${summary['usdPerMillionTasks']['median']:.2f} per "
              f"million on demand, {summary['writeUnitsPerTask']['median']:.2f} WCU per task")
    return {"runs": [run], "summary": summary}


def summarize_paced(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"e2eP50Ms": spread([r["e2eMs"].get("p50") for r in runs]),
            "e2eP95Ms": spread([r["e2eMs"].get("p95") for r in runs]),
            "e2eP99Ms": spread([r["e2eMs"].get("p99") for r in runs]),
            "callsPerTask": spread([r["callsPerTask"] for r in runs])}


def summarize_api(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def per_request(run: dict[str, Any], names: tuple[str, ...]) -> float:
        cpu = run["usage"]["cpuSeconds"]
        return round(1000 * sum(cpu.get(n) or 0.0 for n in names) / max(1, run["apiRequestsInWindow"]), 2)

    def aws_per_request(run: dict[str, Any]) -> float:
        return round(sum(v for k, v in run["awsCalls"]["calls"].items() if k.startswith("api|"))
                     / max(1, run["apiRequestsInWindow"]), 2)

    return {"requestsPerSecond": spread([r["requestsPerSecond"] for r in runs]),
            "p50Ms": spread([r["latencyMs"].get("p50") for r in runs]),
            "p95Ms": spread([r["latencyMs"].get("p95") for r in runs]),
            "p99Ms": spread([r["latencyMs"].get("p99") for r in runs]),
            "errors": sum(r["errors"] for r in runs),
            "cpuMsPerRequest": {"api": spread([per_request(r, ("api",)) for r in runs]),
                                "emulator": spread([per_request(r, ("emulator",)) for r in runs])},
            "awsCallsPerRequest": spread([aws_per_request(r) for r in runs])}


def peer_description(system: str, pool: str, concurrency: int) -> dict[str, Any]:
    backend = PEERS[system]
    return {"system": "Celery", "broker": "Redis", "pool": pool, "concurrency": concurrency, "acksLate": True,
            "resultBackend": "Redis" if backend else None, "trackStarted": backend}


def all_ratios(results: dict[str, Any]) -> None:
    """results["ratios"] (Taskhook / raw Celery) and results["ratiosResultBackend"] (Taskhook / Celery
    with a result backend), for each peer measured in the run."""
    scenarios = results["scenarios"]
    e2e, paced = scenarios.get("e2e", {}), scenarios.get("e2ePaced", {})
    for system, key in RATIO_KEYS.items():
        if system in e2e and "taskhook" in e2e:
            results[key] = ratios(e2e["taskhook"]["summary"], e2e[system]["summary"],
                                  paced.get("taskhook", {}).get("summary"), paced.get(system, {}).get("summary"))


def ratios(taskhook: dict[str, Any], celery: dict[str, Any], paced_t: dict[str, Any] | None,
           paced_c: dict[str, Any] | None) -> dict[str, Any]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else round(a / b, 2)

    med = lambda s: s["median"]  # noqa: E731
    out = {
        "throughput": ratio(med(taskhook["tasksPerSecond"]), med(celery["tasksPerSecond"])),
        "e2eP50": ratio(med(taskhook["e2eP50Ms"]), med(celery["e2eP50Ms"])),
        "e2eP99": ratio(med(taskhook["e2eP99Ms"]), med(celery["e2eP99Ms"])),
        "cpuPerTaskOwnCode": ratio(med(taskhook["cpuSecondsPer1000"]["own"]), med(celery["cpuSecondsPer1000"]["own"])),
        "cpuPerTaskTotal": ratio(med(taskhook["cpuSecondsPer1000"]["total"]),
                                 med(celery["cpuSecondsPer1000"]["total"])),
    }
    if paced_t and paced_c:
        out["pacedE2eP50"] = ratio(med(paced_t["e2eP50Ms"]), med(paced_c["e2eP50Ms"]))
        out["pacedE2eP99"] = ratio(med(paced_t["e2eP99Ms"]), med(paced_c["e2eP99Ms"]))
    return out


def run_delay(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    low, high = cfg["delaySpread"]
    bench.say(f"delay precision: {cfg['delayTasks']} tasks due {low:g}-{high:g}s ahead")
    result = delay.run(bench, cfg["delayTasks"], low, high)
    error = result["absErrorMs"]
    bench.say(f"  delay: |error| p50 {error.get('p50')} ms, p99 {error.get('p99')} ms, max {error.get('max')} ms")
    return result


def run_fairness(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    bench.say(f"fairness: team B's latency quiet and during team A's {cfg['fairBurst']}-task burst "
              f"({cfg['fairSlowSeconds']:g}s calls), without and with a share of {cfg['fairShare']}")
    result = fairness.run(bench, cfg)
    bench.say(f"  fairness: B p50 / quiet p50 {result['bP50OverQuiet']}")
    return result


def run_vault(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    bench.say(f"vault: {cfg['vaultTasks']} tasks with a Token Vault header")
    result = vault.run(bench, cfg["vaultTasks"], cfg["e2eClients"])
    bench.say(f"  vault: KMS Decrypt per task {result['kms']['decryptPerTask']}")
    return result


def run_providers(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    bench.say(f"providers: 2 x {cfg['providerTasks']} Replicate tasks against the fake provider, done at the "
              f"first status read and after {cfg['providerPolls']} pending polls")
    result = providers.run(bench, cfg["providerTasks"], cfg["e2eClients"], cfg["providerPolls"])
    bench.say(f"  providers: AWS requests per poll {result['awsRequestsPerPoll']}, "
              f"per task {result['awsRequestsPerTask']}")
    return result


def run_lists(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    sizes = cfg["listSizes"]
    bench.say(f"lists: one team seeded with {', '.join(f'{n:,}' for n in sizes)} tasks; GET /v1/tasks first page, "
              f"cursor, status filters and offsets, {cfg['listRepeats']} calls each")
    with bench.alone("taskhook"):  # the Celery peer frozen meanwhile
        return lists.run(bench, sizes, cfg["listRepeats"], cfg["listThorough"])


def run_cold_start(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    bench.say(f"cold start: every Lambda entry point in a fresh interpreter, {cfg['coldStartRepeats']} runs each")
    result = cold_start.run(bench, cfg["coldStartRepeats"])
    slowest = max(result["functions"].items(), key=lambda item: item[1]["initMs"]["median"])
    bench.say(f"  cold start: slowest init {slowest[0]} {slowest[1]['initMs']['median']:.0f} ms (median), "
              f"limit {result['limitMs']:.0f} ms")
    return result


def run_floor(bench: Bench, cfg: dict[str, Any]) -> dict[str, Any]:
    bench.say(f"floor: the five calls of a task, {cfg['floorCalls']} each, plain boto3 against an emulator of "
              "its own")
    result = floor.run(bench, cfg["floorCalls"])
    bench.say(f"  floor: {result['perTaskMs']['total']} CPU ms a task (client {result['perTaskMs']['client']}, "
              f"emulator {result['perTaskMs']['emulator']}): at most {result['tasksPerSecondOnTwoCores']} tasks/s "
              "on two cores")
    return result


def summarize_floor(runs: list[dict[str, Any]], bursts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The floor's runs; with the stack's bursts, each measured just before its floor run, the stack's
    CPU a task above the floor, pair by pair (the machine's speed changes within a run)."""
    summary: dict[str, Any] = {
        "perCall": {name: {**{part: spread([r["perCall"][name][part] for r in runs])
                              for part in ("clientMs", "emulatorMs")},
                           "bothMs": spread([round(r["perCall"][name]["clientMs"] + r["perCall"][name]["emulatorMs"], 3)
                                             for r in runs])} for name in floor.CALLS},
        "perTaskMs": {part: spread([r["perTaskMs"][part] for r in runs]) for part in ("client", "emulator", "total")},
        "tasksPerSecondOnTwoCores": spread([r["tasksPerSecondOnTwoCores"] for r in runs]),
        "tasksPerSecondOnTheEmulatorsCore": spread([r["tasksPerSecondOnTheEmulatorsCore"] for r in runs]),
    }
    if bursts:
        summary["stackAboveFloorMs"] = spread([
            round(_cpu_per_1000(burst, tuple(burst["usage"]["cpuSeconds"])) - r["perTaskMs"]["total"], 2)
            for burst, r in zip(bursts, runs, strict=False)])
    return summary


def run_all(cfg: dict[str, Any], with_peer: bool, pool: str, concurrency: int,
            only: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"schema": 1, "date": now_iso(), "git": git_commit(), "machine": machine(),
                               "config": cfg, "scenarios": {}}
    workdir = Path(tempfile.mkdtemp(prefix="taskhook-bench-"))
    target = Target(workdir)
    stack = LocalStack(workdir)
    peers = {name: CeleryPeer(workdir, pool, concurrency, result_backend=backend)
             for name, backend in PEERS.items()} if with_peer else {}
    bench = Bench(stack, target, peers, key="")
    systems = ("taskhook", *peers)
    scenarios = results["scenarios"]
    try:
        bench.say(f"starting the local stack (state in {workdir})")
        peers_started = []
        for name, peer in peers.items():  # meanwhile: they are independent
            backend = "Redis, task_track_started" if peer.result_backend else "none"
            bench.say(f"starting redis-server and a Celery worker for {name} (pool {pool}, concurrency "
                      f"{concurrency}, result backend {backend})")
            peers_started.append(ThreadPoolExecutor(max_workers=1).submit(peer.start))
        stack.start()
        target.configure(answer_bytes=e2e.ANSWER_BYTES)
        bench.key = stack.state["devKey"]
        for started in peers_started:
            started.result()
        results["stack"] = {"pids": stack.pids()}
        if only == "fairness":  # `--only fairness`: that scenario alone, on a fresh stack
            scenarios["fairness"] = run_fairness(bench, cfg)
            return results
        if only == "vault":
            scenarios["vault"] = run_vault(bench, cfg)
            return results
        if only == "providers":
            scenarios["providers"] = run_providers(bench, cfg)
            return results
        if only == "lists":
            scenarios["lists"] = run_lists(bench, cfg)
            return results
        if only == "delay":
            scenarios["delay"] = run_delay(bench, cfg)
            return results
        if only == "coldStart":
            scenarios["coldStart"] = run_cold_start(bench, cfg)
            return results
        if only == "floor":
            floor_runs = [run_floor(bench, cfg)]
            scenarios["floor"] = {"runs": floor_runs, "summary": summarize_floor(floor_runs)}
            return results

        bench.say(f"idle: {cfg['idleSeconds']:g}s of the stack doing nothing")
        scenarios["idle"] = idle.run(bench, cfg["idleSeconds"])
        bench.say(f"  idle: {scenarios['idle']['awsCallsPerSecond']} AWS calls/s, "
                  f"cores busy {scenarios['idle']['cpuCoresBusy']}")
        scenarios["coldStart"] = run_cold_start(bench, cfg)  # after idle: its sample events leave a little work

        bench.say(f"warm-up: {cfg['warmupTasks']} tasks through each system (not recorded)")
        for system in systems:
            run_e2e(bench, system, cfg["warmupTasks"], cfg["e2eClients"])

        runs: dict[str, list[dict[str, Any]]] = {system: [] for system in systems}
        floor_runs: list[dict[str, Any]] = []
        for repeat in range(cfg["e2eRepeats"]):
            for system in systems:
                bench.say(f"e2e {system}: {cfg['e2eTasks']} tasks, {cfg['e2eClients']} clients, "
                          f"run {repeat + 1}/{cfg['e2eRepeats']}")
                run = run_e2e(bench, system, cfg["e2eTasks"], cfg["e2eClients"])
                runs[system].append(run)
                bench.say(f"  {system}: {run['tasksPerSecond']} tasks/s, e2e p50 {run['e2eMs'].get('p50')} ms "
                          f"p99 {run['e2eMs'].get('p99')} ms, calls/task {run['callsPerTask']}"
                          + (f", statuses {run['terminalStatuses']}" if system == "taskhook" else ""))
                if system == "taskhook":  # at the same machine speed as the burst just measured
                    floor_runs.append(run_floor(bench, cfg))
        scenarios["e2e"] = {system: {"runs": r, "summary": summarize_e2e(r, system)} for system, r in runs.items() if r}
        for system in systems:
            if system in scenarios["e2e"]:
                s = scenarios["e2e"][system]["summary"]
                bench.say(f"  {system} median: " + (
                    f"${s['usdPerMillionTasks']['median']:.2f} per million on demand, "
                    f"${s['usdPerMillionTasksProvisioned']['median']:.2f} provisioned, "
                    f"{s['writeUnitsPerTask']['median']:.2f} WCU + {s['readUnitsPerTask']['median']:.2f} RCU per task"
                    if system == "taskhook" else f"{s['tasksPerSecond']['median']:.1f} tasks/s"))
        scenarios["floor"] = {"runs": floor_runs, "summary": summarize_floor(floor_runs, runs["taskhook"])}
        scenarios["e2eLargeAnswer"] = run_large_answer(bench, cfg)

        scenarios["vault"] = run_vault(bench, cfg)
        scenarios["providers"] = run_providers(bench, cfg)

        paced: dict[str, list[dict[str, Any]]] = {system: [] for system in systems}
        for repeat in range(cfg["pacedRepeats"]):
            for system in systems:
                bench.say(f"paced {system}: {cfg['pacedTasks']} tasks at {cfg['pacedRate']:g}/s, "
                          f"run {repeat + 1}/{cfg['pacedRepeats']}")
                run = run_e2e(bench, system, cfg["pacedTasks"], cfg["e2eClients"], cfg["pacedRate"])
                paced[system].append(run)
                bench.say(f"  {system}: e2e p50 {run['e2eMs'].get('p50')} ms p99 {run['e2eMs'].get('p99')} ms")
        scenarios["e2ePaced"] = {s: {"runs": r, "summary": summarize_paced(r)} for s, r in paced.items() if r}

        scenarios["delay"] = run_delay(bench, cfg)

        api_levels: dict[str, Any] = {}
        for clients in cfg["apiClients"]:
            level_runs = []
            for repeat in range(cfg["apiRepeats"]):
                bench.say(f"api: {clients} client(s), {cfg['apiSeconds']:g}s, run {repeat + 1}/{cfg['apiRepeats']}")
                run = api.run(bench, clients, cfg["apiSeconds"])
                level_runs.append(run)
                bench.say(f"  api: {run['requestsPerSecond']} req/s, p50 {run['latencyMs'].get('p50')} ms, "
                          f"p99 {run['latencyMs'].get('p99')} ms, errors {run['errors']}")
            api_levels[str(clients)] = {"runs": level_runs, "summary": summarize_api(level_runs)}
        scenarios["api"] = api_levels

        scenarios["fairness"] = run_fairness(bench, cfg)
        scenarios["lists"] = run_lists(bench, cfg)  # last: it leaves 100k rows in the table

        all_ratios(results)
        results["peer"] = peer_description("celery", pool, concurrency) if peers else None
        results["peers"] = {name: peer_description(name, pool, concurrency) for name in peers}
    except BaseException:
        bench.say("FAILED:\n" + traceback.format_exc())
        bench.say(stack.logs())
        raise
    finally:
        results["finished"] = now_iso()
        results["wallSeconds"] = round(time.monotonic() - bench.started, 1)
        results["machine"]["speedProbeAtEndMs"] = speed_probe()
        for peer in peers.values():
            peer.stop()
        stack.stop()
        target.stop()
    return results


def resummarize(results: dict[str, Any]) -> dict[str, Any]:
    """Recompute every summary and ratio from the raw runs kept in results.json."""
    scenarios = results["scenarios"]
    for system, entry in scenarios.get("e2e", {}).items():
        entry["summary"] = summarize_e2e(entry["runs"], system)
    large = scenarios.get("e2eLargeAnswer")
    if large:
        large["summary"] = summarize_e2e(large["runs"], "taskhook")
    for entry in scenarios.get("e2ePaced", {}).values():
        entry["summary"] = summarize_paced(entry["runs"])
    for entry in scenarios.get("api", {}).values():
        entry["summary"] = summarize_api(entry["runs"])
    floor_entry = scenarios.get("floor")
    if floor_entry and "runs" in floor_entry:
        bursts = scenarios.get("e2e", {}).get("taskhook", {}).get("runs")
        floor_entry["summary"] = summarize_floor(floor_entry["runs"],
                                                 bursts if len(floor_entry["runs"]) > 1 else None)
    all_ratios(results)
    return results


def _follow_with_rates(out: Path, results: dict[str, Any]) -> None:
    """GET /v1/usage's estimate (src/taskhook/model/cost_rates.py) follows the committed results,
    the same model as the report: a run written elsewhere (`--out`) leaves it as it is."""
    if out.resolve() == (HERE / "results.json").resolve():
        cost_rates.write(results)
    else:
        print(f"[bench] {out} is not bench/results.json: the API's cost rates are left as they are", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs (about 3 minutes)")
    parser.add_argument("--no-peer", action="store_true", help="skip the Celery peers")
    parser.add_argument("--celery-pool", default=POOL)
    parser.add_argument("--celery-concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--report", type=Path, default=HERE / "report.md")
    parser.add_argument("--only", choices=["fairness", "vault", "providers", "lists", "coldStart", "delay", "floor"],
                        help="run this scenario alone and merge it into the existing results.json")
    parser.add_argument("--resummarize", action="store_true",
                        help="recompute the summaries of an existing results.json from its raw runs, then render")
    args = parser.parse_args(argv)
    if args.resummarize:
        results = resummarize(json.loads(args.out.read_text()))
        results["repriced"] = {"date": now_iso(), "git": git_commit()["commit"]}
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        report.write(args.out, args.report)
        _follow_with_rates(args.out, results)
        print(report.cost_summary(results))
        return 0
    cfg = dict(QUICK if args.quick else FULL, mode="quick" if args.quick else "full")
    if args.only:
        partial = run_all(cfg, False, args.celery_pool, args.celery_concurrency, only=args.only)
        results = json.loads(args.out.read_text()) if args.out.exists() else partial
        results["scenarios"][args.only] = partial["scenarios"][args.only]
        results.setdefault("partialRuns", {})[args.only] = {
            k: partial[k] for k in ("date", "finished", "wallSeconds", "git", "machine") if k in partial}
        args.out.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
        report.write(args.out, args.report)
        return 0
    results = run_all(cfg, not args.no_peer, args.celery_pool, args.celery_concurrency)
    args.out.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    report.write(args.out, args.report)
    _follow_with_rates(args.out, results)
    print(report.cost_summary(results))
    print(f"[bench] wrote {args.out} and {args.report} in {results['wallSeconds']:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

