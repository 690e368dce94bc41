"""GET /v1/stats: what an operator needs at a glance. The team's counts by status (TeamStats, as the
list's total), its tasks finished per minute over the last hour (the minute counters kept from the
stream, dispatch/counters.py) and the lanes' and dead-letter queue's depths (SQS's attributes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from taskhook.model.clock import utcnow
from taskhook.model.status import TaskStatus
from taskhook.ports import QueueDepths, TeamStatsStore

CHART_MINUTES = 60
MINUTE_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class StatsService:
    team_stats: TeamStatsStore
    queues: QueueDepths
    clock: Callable[[], datetime] = utcnow

    def overview(self, team_id: str) -> dict[str, Any]:
        counts = self.team_stats.counts(team_id)
        now = self.clock().astimezone(UTC).replace(second=0, microsecond=0)
        minutes = [now - timedelta(minutes=n) for n in range(CHART_MINUTES - 1, -1, -1)]
        first, last = minutes[0].strftime(MINUTE_FORMAT), minutes[-1].strftime(MINUTE_FORMAT)
        finished = self.team_stats.finished(team_id, first, last)
        return {
            "counts": {s.value: max(0, counts.get(s, 0)) for s in TaskStatus},
            "finishedPerMinute": [
                {"minute": m.strftime(MINUTE_FORMAT) + ":00Z",
                 "completed": finished.get(m.strftime(MINUTE_FORMAT), {}).get("completed", 0),
                 "failed": finished.get(m.strftime(MINUTE_FORMAT), {}).get("failed", 0)}
                for m in minutes
            ],
            "queues": self.queues.depths(),
        }
