"""The report shows the floor (bench/scenarios/floor.py) of the run: each call's CPU, the sum per task,
how far each of the stack's bursts was above the floor measured right after it, and what two cores,
or the emulator's one, could run at it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bench import harness, report

BENCH = Path(__file__).resolve().parents[2] / "bench"


def floor_run(scale: float) -> dict[str, Any]:
    per_call = {"GetItem": (1.5, 1.25), "SendMessage": (1.5, 1.5), "PutItem": (2.0, 1.75),
                "UpdateItem claim": (2.0, 3.0), "UpdateItem end": (2.0, 3.5)}
    client, emulator = (scale * sum(c[i] for c in per_call.values()) for i in (0, 1))
    return {"calls": 1000, "speedProbeMs": [35.0, 36.0],
            "perCall": {name: {"clientMs": scale * c, "emulatorMs": scale * e} for name, (c, e) in per_call.items()},
            "perTaskMs": {"client": client, "emulator": emulator, "total": client + emulator},
            "tasksPerSecondOnTwoCores": round(2000 / (client + emulator), 1),
            "tasksPerSecondOnTheEmulatorsCore": round(1000 / emulator, 1)}


def burst(cpu_ms_a_task: float) -> dict[str, Any]:
    """A burst of 2,000 tasks that cost `cpu_ms_a_task`, half in the API, half in the emulator."""
    half = cpu_ms_a_task * 2000 / 1000 / 2
    return {"created": 2000, "usage": {"cpuSeconds": {"api": half, "emulator": half}}}


def with_floor(runs: list[dict[str, Any]], bursts: list[dict[str, Any]] | None) -> str:
    results = copy.deepcopy(json.loads((BENCH / "results.json").read_text()))
    results["scenarios"]["floor"] = {"runs": runs, "summary": harness.summarize_floor(runs, bursts)}
    return report.render(results, None, None)


def test_the_report_shows_the_floor_beside_each_burst_measured_just_before_it() -> None:
    # two bursts at different machine speeds, each with its floor: 23.5 - 20 and 50 - 40 ms above
    text = with_floor([floor_run(1.0), floor_run(2.0)], [burst(23.5), burst(50.0)])
    section = text.split("## The floor boto3 and moto set", 1)[1].split("\n## ", 1)[0]
    assert "each made 1,000 times" in section and "Measured 2 times, each right after one of the stack's" in section
    assert "| UpdateItem end | 3.00 (2.00–4.00) | 5.25 (3.50–7.00) | 8.25 (5.50–11.00) |" in section
    assert ("| **a task (one of each)** | 13.50 (9.00–18.00) | 16.50 (11.00–22.00) | **30.00 (20.00–40.00)** |"
            in section)
    assert "6.75 (3.50–10.00) CPU ms a task above it" in section
    assert "two fully busy cores run at most 75.0 (50.0–100.0) tasks/s" in section
    assert "one process (one core at most), at most 68.2 (45.5–90.9)" in section
    headline = next(line for line in text.splitlines() if line.startswith("| Floor:"))
    assert "30.0 (20.0–40.0) CPU ms a task (client 13.5 (9.0–18.0), emulator 16.5 (11.0–22.0))" in headline


def test_a_floor_measured_alone_says_so_and_a_run_without_one_has_no_section() -> None:
    section = with_floor([floor_run(1.0)], None).split("## The floor boto3 and moto set", 1)[1].split("\n## ", 1)[0]
    assert "Measured once, alone (`--only floor`)" in section and "above it" not in section
    results = copy.deepcopy(json.loads((BENCH / "results.json").read_text()))
    results["scenarios"].pop("floor", None)
    text = report.render(results, None, None)
    assert "## The floor" not in text and "| Floor:" not in text
