"""A task's attempt history: one entry per attempt that ended, written by the same conditional write
that ends the attempt (lifecycle's `finish`, `back_off`, `requeue`, a stale `claim`), never by a write
of its own.

`attempts` keeps the newest ATTEMPT_LOG_LIMIT entries, oldest first; `attemptsTotal` counts every
attempt. An entry: `{attempt, startedAt, finishedAt, durationMs, outcome, statusCode?, error?,
nextRetryAt?}`. An attempt's start is its claim (`claimedAt`); a polling task's attempt has no claim
left when it ends, so its start is taken from the previous entry's retry time, else the task's start.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from taskhook.model.clock import iso, parse_iso

if TYPE_CHECKING:  # model/task.py shows the history through view()
    from taskhook.model.task import Task

ATTEMPT_LOG_LIMIT = 20
COMPLETED = "completed"
ERROR_LIMIT = 300  # characters of an error kept per entry: bounds the item (20 entries)
OUTCOMES = ("completed", "retry", "failed", "timeout", "crashed")


def _start_of(task: Task) -> str | None:
    if task.claimedAt:
        return task.claimedAt
    if task.attempts:
        last = task.attempts[-1]
        return str(last.get("nextRetryAt") or last.get("finishedAt"))
    return task.startedAt


def ended(task: Task, finished: datetime, outcome: str, *, status_code: int | None = None, error: str | None = None,
          next_retry_at: str | None = None) -> dict[str, Any]:
    """The `attempts` and `attemptsTotal` changes recording that the task's current attempt ended at
    `finished` (a datetime) with `outcome`; {} when the task never started one."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown attempt outcome {outcome!r}")
    started = _start_of(task)
    if started is None:
        return {}
    total = (task.attemptsTotal or len(task.attempts or ())) + 1
    entry: dict[str, Any] = {
        "attempt": total, "startedAt": started, "finishedAt": iso(finished),
        "durationMs": max(0, round((finished - parse_iso(started)).total_seconds() * 1000)), "outcome": outcome,
    }
    if status_code is not None:
        entry["statusCode"] = status_code
    if error:
        entry["error"] = error[:ERROR_LIMIT]
    if next_retry_at is not None:
        entry["nextRetryAt"] = next_retry_at
    return {"attempts": [*(task.attempts or ())][-(ATTEMPT_LOG_LIMIT - 1):] + [entry], "attemptsTotal": total}


def view(task: Task) -> tuple[list[dict[str, Any]], int] | None:
    """(attempts, attemptsTotal) as clients see them: the stored history, or, for a task whose only
    attempt completed (stored as nothing, lifecycle.finish), that attempt read from the task itself."""
    if task.attempts:
        return task.attempts, task.attemptsTotal or len(task.attempts)
    if task.status.value != COMPLETED or not task.startedAt or not task.completedAt:
        return None
    entry: dict[str, Any] = {
        "attempt": 1, "startedAt": task.startedAt, "finishedAt": task.completedAt,
        "durationMs": max(0, round((parse_iso(task.completedAt) - parse_iso(task.startedAt)).total_seconds() * 1000)),
        "outcome": COMPLETED,
    }
    if isinstance(task.result, dict) and isinstance(task.result.get("statusCode"), int) and task.kind != "function":
        entry["statusCode"] = task.result["statusCode"]
    return [entry], 1
