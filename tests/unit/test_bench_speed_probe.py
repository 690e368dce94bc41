"""The bench records how fast the machine was (bench/system.py `speed_probe`), at the start and the
end of a run, and the report shows it beside the load average: the CPU figures of runs made on
different days compare through it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import report, system

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_probe_measures_cpu_time_not_wall_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = iter(float(i) for i in (0, 0.25, 10, 10.5, 20, 20.125))  # three rounds: 250, 500, 125 ms
    monkeypatch.setattr(system.time, "process_time", lambda: next(clock))
    assert system.speed_probe(rounds=3) == 125.0  # the best round


def test_the_report_shows_the_probe_of_the_run() -> None:
    results = copy.deepcopy(json.loads((BENCH / "baseline.json").read_text()))
    results["machine"].update(speedProbeMs=61.5, speedProbeAtEndMs=70.25)
    text = report.render(results, None, None)
    row = next(line for line in text.splitlines() if line.startswith("| Speed probe"))
    assert "61.5 ms at the start, 70.2 ms at the end" in row

    del results["machine"]["speedProbeMs"], results["machine"]["speedProbeAtEndMs"]  # a run from before it
    assert "| Speed probe" not in report.render(results, None, None)
