"""GET /v1/usage: a team's usage per UTC day over a period (model/usage.py says what each figure
counts), from the TeamStats table (one Query), with the period's totals."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from taskhook.model import cost_rates
from taskhook.model.clock import utcnow
from taskhook.model.errors import ValidationFailed
from taskhook.model.usage import DayUsage
from taskhook.ports import TeamStatsStore

MAX_USAGE_DAYS = 366
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def estimated_cost(totals: DayUsage) -> dict[str, Any]:
    """The estimated AWS cost of the period's tasks: the tasks created times what one task costs as
    `make bench` measured it (model/cost_rates.py, written from bench/results.json: a plain HTTP task
    with a 1 KB body and a 1 KB answer, one attempt, every request, unit and Lambda second counted).
    An estimate of the usual task, stated as such: retries, polls and large bodies cost more than it."""
    return {
        "onDemandUsd": round(totals.tasksCreated * cost_rates.USD_PER_TASK, 6),
        "provisionedUsd": round(totals.tasksCreated * cost_rates.USD_PER_TASK_PROVISIONED, 6),
        "usdPerMillionTasks": round(cost_rates.USD_PER_TASK * 1_000_000, 2),
        "basis": f"{cost_rates.MEASURED}; prices: {cost_rates.PRICES}. Per task created; retries, polls "
                 "and bodies over 1 KB cost more.",
    }


def _date(params: Mapping[str, str], name: str, default: date) -> date:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        if not _DAY.fullmatch(raw):  # date.fromisoformat also takes week dates (2026-W10-1)
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD") from None


def parse_period(params: Mapping[str, str] | None, today: date) -> tuple[date, date]:
    """`from` and `to` (inclusive, UTC days): default the first of this month to today."""
    params = params or {}
    unknown = sorted(set(params) - {"from", "to"})
    if unknown:
        raise ValidationFailed(f"Unknown query parameter: {unknown[0]}")
    first = _date(params, "from", today.replace(day=1))
    last = _date(params, "to", today)
    if first > last:
        raise ValidationFailed("from must not be after to")
    if (last - first).days + 1 > MAX_USAGE_DAYS:
        raise ValidationFailed(f"the period must be at most {MAX_USAGE_DAYS} days")
    return first, last


@dataclass
class UsageService:
    stats: TeamStatsStore
    clock: Callable[[], datetime] = utcnow

    def usage(self, team_id: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        first, last = parse_period(params, self.clock().date())
        stored = self.stats.usage(team_id, first, last)
        days, totals = [], DayUsage()
        for n in range((last - first).days + 1):  # never a day past `last` (date.max ends the range)
            day = first + timedelta(days=n)
            usage = stored.get(day, DayUsage())
            totals.add(usage)
            days.append({"date": day.isoformat(), **usage.public()})
        out: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat(), "days": days,
                               "totals": totals.public()}
        out["estimatedCost"] = estimated_cost(totals)
        return {"usage": out}
