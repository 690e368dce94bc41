"""The bench's cost per task, as the API's usage estimate reads it (GET /v1/usage `estimatedCost`):
`make bench` / `make bench-quick` write src/taskhook/model/cost_rates.py from bench/results.json, so
the estimate and the report are one model (a test checks they agree).

    python -m bench.cost_rates [--results bench/results.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RATES_FILE = HERE.parent / "src" / "taskhook" / "model" / "cost_rates.py"
SCENARIO = "e2e"  # a plain HTTP task: 1 KB JSON body, 1 KB JSON answer, one attempt


def rates(results: dict[str, Any]) -> dict[str, Any]:
    summary = results["scenarios"][SCENARIO]["taskhook"]["summary"]
    median = summary["costOfMedianRun"]  # the run bench/report.md's cost table shows
    prices = median["prices"]
    return {
        # rounded: the division's float noise (8.890000000000001e-06) is not a measurement
        "USD_PER_TASK": round(median["usdPerMillionTasks"] / 1_000_000, 12),
        "USD_PER_TASK_PROVISIONED": round(median["usdPerMillionTasksProvisioned"] / 1_000_000, 12),
        "MEASURED": f"bench/results.json of {results['date']} ({results['config']['mode']} run, commit "
                    f"{results['git']['commit'][:10]}), scenario {SCENARIO!r}" + _repriced(results),
        "PRICES": f"{prices['source']} ({prices['region']}, on demand; provisioned at 70 % utilisation)",
    }


def _repriced(results: dict[str, Any]) -> str:
    repriced = results.get("repriced")
    return f", repriced {repriced['date']} at commit {repriced['git'][:10]}" if repriced else ""


def render(values: dict[str, Any]) -> str:
    lines = ['"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file',
             'from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""',
             "", "from __future__ import annotations", ""]
    lines += [_assignment(name, value) for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _assignment(name: str, value: Any, width: int = 100) -> str:
    """`NAME = value`, a long string split over lines in parentheses (the project's 120 columns)."""
    line = f"{name} = {value!r}"
    if not isinstance(value, str) or len(line) <= width:
        return line
    parts, rest = [], value
    while rest:
        cut = rest.rfind(" ", 0, width - 8) + 1 if len(rest) > width - 8 else len(rest)
        cut = cut or min(len(rest), width - 8)
        parts.append(rest[:cut])
        rest = rest[cut:]
    return f"{name} = (\n" + "".join(f"    {part!r}\n" for part in parts) + ")"


def write(results: dict[str, Any], path: Path = RATES_FILE) -> None:
    path.write_text(render(rates(results)), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    args = parser.parse_args(argv)
    write(json.loads(args.results.read_text()))


if __name__ == "__main__":
    main()
