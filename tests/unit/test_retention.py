"""Retention: every terminal transition stamps the row's TTL (`expiresAt`) from its completion and
its team's retention; the plan's override and its bounds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from taskhook.config import Settings
from taskhook.model import lifecycle
from taskhook.model.errors import ValidationFailed
from taskhook.model.plan import PlanBook, TeamPlan, resolved, with_limits, with_retention
from taskhook.model.retention import expires_at
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskRepository

S = TaskStatus
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400


def stored(repo: InMemoryTaskRepository, status: TaskStatus, team: str = "acme", **fields: object) -> Task:
    task = Task(id=f"t-{team}-{status.value}", teamId=team, status=status, createdAt="2026-03-01T11:00:00.000Z",
                targetUrl="https://x.test/hook", **fields)  # type: ignore[arg-type]
    repo.put_new(task)
    return task


ENDINGS: dict[str, Callable[[Task], lifecycle.Transition]] = {
    "completed": lambda t: lifecycle.finish(t, S.COMPLETED, NOW, "tok"),
    "failed": lambda t: lifecycle.finish(t, S.FAILED, NOW, "tok"),
    "timeout": lambda t: lifecycle.time_out(t, NOW, "tok"),
    "dead letter": lambda t: lifecycle.dead_letter(t, NOW),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_every_ending_of_a_run_stamps_expires_at(ending: str) -> None:
    repo = InMemoryTaskRepository()
    task = stored(repo, S.PROCESSING, claimToken="tok")
    done = repo.apply(task, ENDINGS[ending](task))
    assert done.expiresAt == int(NOW.timestamp()) + 30 * DAY


def test_a_cancel_and_a_waiting_tasks_callback_stamp_it_too() -> None:
    repo = InMemoryTaskRepository()
    cancelled = repo.apply(stored(repo, S.PENDING), lifecycle.cancel(NOW))
    waited = repo.apply(stored(repo, S.WAITING), lifecycle.complete_waiting(S.COMPLETED, NOW, result={"ok": True}))
    assert cancelled.expiresAt == waited.expiresAt == int(NOW.timestamp()) + 30 * DAY


def test_an_unfinished_task_has_no_expiry() -> None:
    repo = InMemoryTaskRepository()
    task = stored(repo, S.PENDING)
    claimed = repo.apply(task, lifecycle.claim(task, "tok", NOW))
    assert claimed.expiresAt is None
    assert "expiresAt" not in claimed.public()


def test_a_teams_own_retention_applies_to_its_tasks_only() -> None:
    repo = InMemoryTaskRepository(retention_days=lambda team: 7 if team == "acme" else 30)
    mine = repo.apply(stored(repo, S.PENDING), lifecycle.cancel(NOW))
    theirs = repo.apply(stored(repo, S.PENDING, team="beta"), lifecycle.cancel(NOW))
    assert mine.expiresAt == int(NOW.timestamp()) + 7 * DAY
    assert theirs.expiresAt == int(NOW.timestamp()) + 30 * DAY


def test_expires_at_counts_from_the_completion() -> None:
    assert expires_at("2026-03-01T12:00:00.500Z", 1) == int(NOW.timestamp()) + DAY


@pytest.mark.parametrize("days", [-1, 3651, 100_000])
def test_a_retention_out_of_bounds_is_refused(days: int) -> None:
    with pytest.raises(ValidationFailed, match="retentionDays must be a whole number between 1 and 3650"):
        with_retention(TeamPlan(), days)


def test_the_plan_keeps_its_retention_through_other_changes_and_zero_goes_back_to_the_default() -> None:
    plan = with_limits(with_retention(TeamPlan(), 90), 5, None, None)
    assert plan.retention_days == 90
    defaults = TeamPlan(retention_days=30)
    assert resolved(plan, defaults).retention_days == 90
    assert resolved(with_retention(plan, 0), defaults).retention_days == 30
    book = PlanBook(lambda team: plan if team == "acme" else None, defaults)
    assert (book.plan_of("acme").retention_days, book.plan_of("beta").retention_days) == (90, 30)
    assert book.plan_of("acme").public()["retentionDays"] == 90


def test_the_deployments_default_comes_from_the_environment() -> None:
    assert Settings.from_env({}).retention_days == 30
    assert Settings.from_env({"TASK_RETENTION_DAYS": "7"}).retention_days == 7
