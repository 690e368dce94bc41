"""The report shows the floor (bench/scenarios/floor.py) of the run: each call's CPU, the sum per task,
how far the stack's own burst was above it, and what two cores could run at it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import report

BENCH = Path(__file__).resolve().parents[2] / "bench"

FLOOR = {"calls": 1000, "perCall": {
    "PutItem": {"clientMs": 2.0, "emulatorMs": 1.75}, "GetItem": {"clientMs": 1.5, "emulatorMs": 1.25},
    "SendMessage": {"clientMs": 1.5, "emulatorMs": 1.5}, "UpdateItem claim": {"clientMs": 2.0, "emulatorMs": 3.0},
    "UpdateItem end": {"clientMs": 2.0, "emulatorMs": 3.5}},
    "perTaskMs": {"client": 9.0, "emulator": 11.0, "total": 20.0}, "tasksPerSecondOnTwoCores": 100.0}


def test_the_report_shows_the_floor_beside_the_stack_s_burst() -> None:
    results = copy.deepcopy(json.loads((BENCH / "results.json").read_text()))
    results["scenarios"]["floor"] = FLOOR
    results["scenarios"]["e2e"]["taskhook"]["summary"]["cpuSecondsPer1000"]["total"]["median"] = 23.5
    text = report.render(results, None, None)
    section = text.split("## The floor boto3 and moto set", 1)[1].split("\n## ", 1)[0]
    assert "each made 1,000 times" in section
    assert "| UpdateItem end | 2.00 | 3.50 | 5.50 |" in section
    assert "| **a task (one of each)** | 9.00 | 11.00 | **20.00** |" in section
    assert "23.50 CPU ms a task (median), +3.50 ms against this floor" in section
    assert "at most 100.0 tasks/s at this floor" in section
    headline = next(line for line in text.splitlines() if line.startswith("| Floor:"))
    assert "20.0 CPU ms a task (client 9.0, emulator 11.0): at most 100.0 tasks/s" in headline


def test_a_run_without_the_floor_has_no_floor_section() -> None:
    results = copy.deepcopy(json.loads((BENCH / "results.json").read_text()))
    results["scenarios"].pop("floor", None)
    text = report.render(results, None, None)
    assert "## The floor" not in text and "| Floor:" not in text
