"""GET /v1/usage's period and answer (intake/usage.py)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bench import cost_rates as bench_rates
from taskhook.intake.usage import UsageService, parse_period
from taskhook.model import cost_rates
from taskhook.model.errors import ValidationFailed
from taskhook.model.usage import DayUsage, Tally
from tests.support.fakes import InMemoryTeamStats

TODAY = date(2026, 3, 17)


def test_the_default_period_is_this_month_so_far() -> None:
    assert parse_period({}, TODAY) == (date(2026, 3, 1), TODAY)
    assert parse_period({"from": "2026-02-27"}, TODAY) == (date(2026, 2, 27), TODAY)


@pytest.mark.parametrize(("params", "message"), [
    ({"from": "2026-3-1"}, "from must be a date YYYY-MM-DD"),
    ({"to": "yesterday"}, "to must be a date YYYY-MM-DD"),
    ({"from": "2026-02-30"}, "from must be a date YYYY-MM-DD"),
    ({"from": "2026-03-10", "to": "2026-03-09"}, "from must not be after to"),
    ({"from": "2025-01-01", "to": "2026-01-02"}, "the period must be at most 366 days"),
    ({"since": "2026-01-01"}, "Unknown query parameter: since"),
])
def test_a_bad_period_is_refused(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_period(params, TODAY)
    assert caught.value.message == message


def test_366_days_are_allowed() -> None:
    assert parse_period({"from": "2024-01-01", "to": "2024-12-31"}, TODAY)[0] == date(2024, 1, 1)


def test_every_day_is_listed_with_the_periods_totals_and_only_the_teams_usage() -> None:
    stats = InMemoryTeamStats()
    stats.add(Tally(Counter(), {("acme", date(2026, 3, 2)): DayUsage(3, 4, 1, 100),
                                ("acme", date(2026, 3, 4)): DayUsage(1, 1, 0, 10),
                                ("acme", date(2026, 2, 28)): DayUsage(9, 9, 9, 9),
                                ("beta", date(2026, 3, 2)): DayUsage(5, 5, 5, 5)}), "t1")
    service = UsageService(stats, clock=lambda: datetime(2026, 3, 4, 23, 0, tzinfo=UTC))
    usage = service.usage("acme", {})["usage"]
    assert (usage["from"], usage["to"]) == ("2026-03-01", "2026-03-04")
    assert [d["date"] for d in usage["days"]] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert usage["days"][1] == {"date": "2026-03-02", "tasksCreated": 3, "attempts": 4, "polls": 1, "bytesStored": 100}
    assert usage["days"][0] == {"date": "2026-03-01", "tasksCreated": 0, "attempts": 0, "polls": 0, "bytesStored": 0}
    assert usage["totals"] == {"tasksCreated": 4, "attempts": 5, "polls": 1, "bytesStored": 110}
    cost = usage["estimatedCost"]
    assert cost["onDemandUsd"] == round(4 * cost_rates.USD_PER_TASK, 6)
    assert cost["provisionedUsd"] == round(4 * cost_rates.USD_PER_TASK_PROVISIONED, 6)
    assert cost_rates.MEASURED in cost["basis"] and cost_rates.PRICES in cost["basis"]


def test_the_estimate_is_the_benchs_own_figure() -> None:
    """model/cost_rates.py is what bench/cost_rates.py writes from the committed bench/results.json:
    the API's estimate and bench/report.md are one model."""
    results = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results.json").read_text())
    assert bench_rates.render(bench_rates.rates(results)) == Path(cost_rates.__file__).read_text()


def test_the_last_representable_day_is_a_period_not_a_500() -> None:
    """`to=9999-12-31` is a valid date: listing its days must not step past date.max."""
    service = UsageService(InMemoryTeamStats(), clock=lambda: datetime(2026, 3, 4, tzinfo=UTC))
    usage = service.usage("acme", {"from": "9999-12-30", "to": "9999-12-31"})["usage"]
    assert [d["date"] for d in usage["days"]] == ["9999-12-30", "9999-12-31"]


@pytest.mark.parametrize("raw", ["2026-W10-1", "20260301", "2026-3-01", "２０２６-03-01"])
def test_only_a_calendar_date_is_a_day(raw: str) -> None:
    with pytest.raises(ValidationFailed, match="from must be a date YYYY-MM-DD"):
        parse_period({"from": raw}, TODAY)
