"""The bench's two Celery peers (issue 17, part 5): the report shows both beside every Taskhook figure
with both ratios, still renders a results.json from before the second peer, and measuring one system
freezes every other one."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import harness, report
from bench.scenarios import Bench

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results.json"


def one_peer(results: dict[str, Any]) -> dict[str, Any]:
    """results.json as it was before the second peer: "celery" and "ratios" only."""
    old = copy.deepcopy(results)
    for key in ("e2e", "e2ePaced"):
        old["scenarios"].get(key, {}).pop("celeryResults", None)
    old.pop("ratiosResultBackend", None)
    old.pop("peers", None)
    return old


def two_peers(results: dict[str, Any]) -> dict[str, Any]:
    """Both peers, the second one's runs made distinguishable (half the raw peer's throughput)."""
    new = one_peer(results)
    for key in ("e2e", "e2ePaced"):
        runs = copy.deepcopy(new["scenarios"][key]["celery"]["runs"])
        for run in runs:
            if run.get("tasksPerSecond"):
                run["tasksPerSecond"] = round(run["tasksPerSecond"] / 2, 1)
            run["e2eMs"] = {k: v * 3 for k, v in run["e2eMs"].items()}
        new["scenarios"][key]["celeryResults"] = {"runs": runs}
    return harness.resummarize(new)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return harness.resummarize(one_peer(json.loads(RESULTS.read_text())))


def test_a_results_file_from_before_the_second_peer_still_renders(results: dict[str, Any]) -> None:
    text = report.render(one_peer(results), None)
    assert "| Taskhook / Celery |" in text and "Celery + result backend |" not in text
    assert "ratiosResultBackend" not in harness.resummarize(one_peer(results))


def test_both_peers_stand_beside_every_taskhook_figure_with_both_ratios(results: dict[str, Any]) -> None:
    both = two_peers(results)
    raw, backend = both["ratios"], both["ratiosResultBackend"]
    # the ratios are rounded to two decimals: halving one can move the other by 0.01
    assert backend["throughput"] == pytest.approx(raw["throughput"] * 2, rel=0.05, abs=0.011)
    text = report.render(both, None)
    assert "|  | Taskhook | Celery | Celery + result backend |" in text
    assert "| figure | Taskhook / Celery | Taskhook / Celery + result backend |" in text
    for label in ("paced e2e p50 ms", "paced e2e p99 ms", "tasks/s sustained", "CPU s / 1000 tasks: total"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert row.count("|") == 5, row  # label, Taskhook and both peers
    assert "End to end (Celery + result backend)" in text
    assert f"Taskhook / Celery + result backend | throughput {backend['throughput']:.2f}×" in text


def _stopped(pid: int, expected: bool) -> bool:
    """Whether the process is stopped, once it reached `expected` or 2 s passed (a signal lands a
    moment after kill() returns)."""
    deadline = time.monotonic() + 2
    while True:
        stopped = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
        if stopped == expected or time.monotonic() > deadline:
            return stopped
        time.sleep(0.01)


class _Processes:
    def __init__(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        self.processes = processes

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}


def test_measuring_one_system_freezes_every_other_one() -> None:
    sleepers = {name: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                for name in ("api", "worker-a", "redis-a", "worker-b", "redis-b")}
    try:
        stack = _Processes({"api": sleepers["api"]})
        peers = {"celery": _Processes({"w": sleepers["worker-a"], "r": sleepers["redis-a"]}),
                 "celeryResults": _Processes({"w": sleepers["worker-b"], "r": sleepers["redis-b"]})}
        bench = Bench(stack, None, peers, key="")  # type: ignore[arg-type]
        frozen = {"api": True, "worker-a": True, "redis-a": True, "worker-b": False, "redis-b": False}
        with bench.alone("celeryResults"):
            assert {name: _stopped(sleepers[name].pid, stop) for name, stop in frozen.items()} == frozen
        assert [_stopped(p.pid, False) for p in sleepers.values()] == [False] * 5  # SIGCONT afterwards
        with bench.alone("taskhook"):
            names = ("api", "worker-a", "worker-b")
            assert [_stopped(sleepers[n].pid, n != "api") for n in names] == [False, True, True]
    finally:
        for process in sleepers.values():
            process.kill()
            process.wait()


def test_a_run_written_elsewhere_leaves_the_apis_cost_rates_alone(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(harness.cost_rates, "write", lambda results: written.append(results))
    elsewhere = tmp_path / "results.json"
    elsewhere.write_text(RESULTS.read_text())
    assert harness.main(["--resummarize", "--out", str(elsewhere), "--report", str(tmp_path / "report.md")]) == 0
    assert written == [] and (tmp_path / "report.md").exists()
    harness._follow_with_rates(RESULTS, {"the": "committed results"})
    assert written == [{"the": "committed results"}]
