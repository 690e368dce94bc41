"""GET /v1/stats's figures: the per-minute finish counters kept from the stream (dispatch/counters.py,
counted once however often a batch is retried) and the overview (intake/stats.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from taskhook.dispatch.counters import TeamCounters, tally
from taskhook.intake.stats import StatsService
from taskhook.model.status import TaskStatus
from tests.support.fakes import InMemoryTeamStats
from tests.unit.test_team_counters import claim, finish, insert, task

S = TaskStatus
DEPTHS = {"high": {"visible": 1, "inFlight": 0, "delayed": 0}}


class FixedDepths:
    def depths(self) -> dict[str, dict[str, int]]:
        return DEPTHS


def test_finishes_are_counted_in_the_minute_of_their_completion() -> None:
    a, b, c, d = (claim(f"{n}b", task(f"t{n}")).new for n in range(4))
    changes = [
        finish("1", a, S.COMPLETED), finish("2", b, S.FAILED), finish("3", c, S.TIMEOUT),
        finish("4", d, S.COMPLETED, completedAt="2026-01-01T12:01:00.000Z"),
        finish("5", claim("5b", task("t5")).new, S.CANCELLED),
        insert("6", task("t6")),
    ]

    finished = tally(changes).finished

    assert finished == {("acme", "2026-01-01T12:00"): {"completed": 1, "failed": 2},
                        ("acme", "2026-01-01T12:01"): {"completed": 1}}


def test_a_retried_batch_counts_its_finishes_once() -> None:
    store = InMemoryTeamStats()
    changes = [finish("1", claim("1b", task("t1")).new)]
    counters = TeamCounters(store)
    counters.count(changes, len(changes))
    counters.count(changes, len(changes))
    assert store.finished("acme", "2026-01-01T11:00", "2026-01-01T12:59") == {"2026-01-01T12:00": {"completed": 1}}


def test_the_overview_has_every_status_and_sixty_minutes_oldest_first_with_zeros() -> None:
    store = InMemoryTeamStats()
    TeamCounters(store).count([insert("0", task("t0")), finish("1", claim("1b", task("t1")).new, S.FAILED)], 2)
    service = StatsService(store, FixedDepths(), clock=lambda: datetime(2026, 1, 1, 12, 30, 42, tzinfo=UTC))

    overview = service.overview("acme")

    assert overview["counts"] == {**{s.value: 0 for s in S}, "pending": 1, "failed": 1}
    chart = overview["finishedPerMinute"]
    assert len(chart) == 60
    assert chart[0]["minute"] == "2026-01-01T11:31:00Z" and chart[-1]["minute"] == "2026-01-01T12:30:00Z"
    assert [m for m in chart if m["completed"] or m["failed"]] == [
        {"minute": "2026-01-01T12:00:00Z", "completed": 0, "failed": 1}]
    assert overview["queues"] == DEPTHS
    assert overview["counts"] == StatsService(store, FixedDepths()).overview("acme")["counts"]
    assert StatsService(store, FixedDepths()).overview("other")["counts"]["failed"] == 0
