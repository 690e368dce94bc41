"""bench/report.py puts this run beside bench/baseline.json (issue 17: before/after in the report)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from bench import report

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_report_shows_the_baseline_beside_this_run() -> None:
    baseline = json.loads((BENCH / "baseline.json").read_text())
    results = copy.deepcopy(baseline)
    results["git"]["commit"] = "f" * 40
    summary = results["scenarios"]["e2ePaced"]["taskhook"]["summary"]
    summary["e2eP50Ms"] = {"median": 12.0, "min": 12.0, "max": 12.0}

    text = report.render(results, None, baseline)

    section = text.split("## Before and after (issue 17)")[1].split("\n## ")[0]
    before = baseline["scenarios"]["e2ePaced"]["taskhook"]["summary"]["e2eP50Ms"]
    row = next(line for line in section.splitlines() if line.startswith("| paced e2e p50 / p99 ms"))
    assert row.split("|")[2].strip().startswith(report.mmm(before, 0))
    assert row.split("|")[3].strip().startswith("12 /")
    assert "## Before and after" not in report.render(results, None, None)
