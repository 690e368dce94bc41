"""A team's plan: what the API and the executor allow it. One row attribute per team (the Teams
table's `plan`, adapters/dynamo/plans.py), read through `PlanBook`, which caches each team's plan
for PLAN_CACHE_SECONDS so that a busy team costs one read per container and half second, not one
per request, while a change (`bin/taskhook teams set-limits`) applies within a second.

Every limit is optional. As stored, None means "the deployment's default" and 0 means "no limit
for this team"; the plan PlanBook hands out is resolved (None: no limit). A team without a row, or
without a value, gets the deployment's defaults (template.yaml's RateLimitRps, RateLimitBurst and
TeamConcurrency parameters; none by default, so the local stack and the tests are not throttled).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from taskhook.model.errors import Busy, ValidationFailed

PLAN_CACHE_SECONDS = 0.5
MAX_RPS = 100_000
MIN_RPS = 0.001  # one request every 1000 s; a smaller rate means nothing (and DynamoDB stores no number under 1E-130)
MAX_BURST = 1_000_000
MAX_CONCURRENCY = 10_000
MAX_DESTINATIONS = 50  # per-destination limits per team
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


@dataclass(frozen=True)
class DestinationLimit:
    """At most `concurrency` calls in flight and `rps` calls per second (burst `burst`) from one
    team to one host; None: that bound is off."""

    concurrency: int | None = None
    rps: float | None = None
    burst: int | None = None

    def public(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "rps": self.rps, "burst": self.effective_burst}

    @property
    def effective_burst(self) -> int | None:
        return effective_burst(self.rps, self.burst)


@dataclass(frozen=True)
class TeamPlan:
    rps: float | None = None  # API requests per second (token bucket refill); None: unlimited
    burst: int | None = None  # bucket size; None with an rps: one second's worth
    concurrency: int | None = None  # executor share: tasks of the team running at once
    destinations: Mapping[str, DestinationLimit] = field(default_factory=dict)  # by lowercase host
    # Days a finished task is kept (model/retention.py, 1-3650); None: the deployment's default.
    retention_days: int | None = None

    @property
    def effective_burst(self) -> int | None:
        return effective_burst(self.rps, self.burst)

    def destination(self, host: str) -> DestinationLimit | None:
        return self.destinations.get(host.lower().rstrip("."))

    def public(self) -> dict[str, Any]:
        return {
            "rps": self.rps, "burst": self.effective_burst, "concurrency": self.concurrency,
            "destinations": {host: limit.public() for host, limit in sorted(self.destinations.items())},
            "retentionDays": self.retention_days,
        }


def effective_burst(rps: float | None, burst: int | None) -> int | None:
    if not rps:
        return None
    return burst if burst else max(1, int(rps + 0.999999))


def check_rate(rps: float | None, burst: int | None, what: str = "rps") -> None:
    if rps is not None and not 0 <= rps <= MAX_RPS:
        raise ValidationFailed(f"{what} must be a number between 0 and {MAX_RPS}")
    if rps and rps < MIN_RPS:
        raise ValidationFailed(f"{what} must be 0 (no limit) or at least {MIN_RPS:g} (one request every "
                               f"{1 / MIN_RPS:g} s)")
    if burst is not None and not 0 <= burst <= MAX_BURST:
        raise ValidationFailed(f"burst must be a whole number between 0 and {MAX_BURST}")


def check_concurrency(concurrency: int | None) -> None:
    if concurrency is not None and not 0 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationFailed(f"concurrency must be a whole number between 0 and {MAX_CONCURRENCY}")


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if not _HOST.fullmatch(host):
        raise ValidationFailed("host must be a host name such as api.replicate.com (no scheme, port or path)")
    return host


def with_limits(plan: TeamPlan, rps: float | None, burst: int | None, concurrency: int | None) -> TeamPlan:
    """`plan` with the given limits changed (None: unchanged; 0: removed)."""
    check_rate(rps, burst)
    check_concurrency(concurrency)
    changes: dict[str, Any] = {}
    if rps is not None:
        changes["rps"] = rps
        if not rps:
            changes["burst"] = None
    if burst is not None:
        changes["burst"] = burst
    if concurrency is not None:
        changes["concurrency"] = concurrency
    return replace(plan, **changes)


def resolved(stored: TeamPlan | None, defaults: TeamPlan) -> TeamPlan:
    """The plan in force: each value the team's row sets (0: off), else the default's."""
    stored = stored or TeamPlan()

    def pick(mine: Any, default: Any) -> Any:
        value = default if mine is None else mine
        return value or None

    rps = pick(stored.rps, defaults.rps)
    return TeamPlan(
        rps=rps, burst=pick(stored.burst, defaults.burst) if rps else None,
        concurrency=pick(stored.concurrency, defaults.concurrency),
        destinations=dict(stored.destinations),
        retention_days=stored.retention_days or defaults.retention_days,
    )


def with_retention(plan: TeamPlan, days: int) -> TeamPlan:
    """`plan` with the team's retention set (0: back to the deployment's default)."""
    from taskhook.model.retention import check_retention_days

    if days:
        check_retention_days(days)
    return replace(plan, retention_days=days or None)


def with_destination(plan: TeamPlan, host: str, limit: DestinationLimit | None) -> TeamPlan:
    """`plan` with `host`'s limit set, or removed when `limit` is None or sets no bound."""
    host = normalize_host(host)
    destinations = dict(plan.destinations)
    if limit is None or (not limit.concurrency and not limit.rps):
        destinations.pop(host, None)
    else:
        check_concurrency(limit.concurrency)
        check_rate(limit.rps, limit.burst)
        destinations[host] = DestinationLimit(limit.concurrency or None, limit.rps or None, limit.burst or None)
        if len(destinations) > MAX_DESTINATIONS:
            raise ValidationFailed(f"at most {MAX_DESTINATIONS} destination limits per team")
    return replace(plan, destinations=destinations)


class PlanBook:
    """Each team's plan as the store holds it (or the defaults), cached for PLAN_CACHE_SECONDS."""

    def __init__(self, load: Callable[[str], TeamPlan | None], defaults: TeamPlan,
                 monotonic: Callable[[], float] = time.monotonic, ttl: float = PLAN_CACHE_SECONDS) -> None:
        self._load = load
        self._defaults = defaults
        self._monotonic = monotonic
        self._ttl = ttl
        self._cache: dict[str, tuple[float, TeamPlan]] = {}
        self._reading: set[str] = set()  # the teams whose plan a thread is reading now
        self._lock = threading.Lock()

    def plan_of(self, team_id: str) -> TeamPlan:
        """The team's plan. One thread reads an expired plan again; the others keep the last one
        meanwhile (a burst's concurrent requests, one read between them, not one each)."""
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(team_id)
            if hit and (now - hit[0] < self._ttl or team_id in self._reading):
                return hit[1]
            self._reading.add(team_id)
        plan: TeamPlan | None = None
        try:
            plan = resolved(self._load(team_id), self._defaults)
        except Busy:
            if hit is None:
                raise
            return hit[1]  # the Teams table throttled: the plan last read stands a little longer
        finally:
            with self._lock:
                self._reading.discard(team_id)
                if plan is not None:
                    if len(self._cache) > 10_000:
                        self._cache.clear()
                    self._cache[team_id] = (now, plan)
        return plan
