"""`bin/taskhook stats recount --team T`: rebuild a team's counts by status from its task rows, for
what the stream-kept counters cannot promise (dispatch/counters.py's docstring). Operators only:
the rows come from a Scan of the whole table (adapters/dynamo/tasks.py `statuses_of_team`), and
changes streamed while it runs may be lost or counted twice, so run it while the team is quiet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from taskhook.model.status import TaskStatus
from taskhook.ports import TeamStatsStore


def recount(statuses: Iterable[TaskStatus], team_id: str, stats: TeamStatsStore) -> dict[TaskStatus, int]:
    counts = Counter(statuses)
    stats.set_counts(team_id, counts)
    return dict(counts)


def recount_all(rows: Iterable[tuple[str, TaskStatus]], stats: TeamStatsStore) -> dict[str, dict[TaskStatus, int]]:
    """Every team's counts from one pass over the rows (`stats recount --all`: after an upgrade from
    a version without counters, docs/upgrading.md); a team that has counts but no row left is set
    to zero."""
    by_team: dict[str, Counter[TaskStatus]] = {}
    for team_id, status in rows:
        by_team.setdefault(team_id, Counter())[status] += 1
    for team_id in list(stats.counted_teams()):
        by_team.setdefault(team_id, Counter())
    for team_id, counts in by_team.items():
        stats.set_counts(team_id, counts)
    return {team_id: dict(counts) for team_id, counts in by_team.items()}
