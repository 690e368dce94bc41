"""Ending a task from a run (the executor's claim, or a polling task's poll token): one conditional
write; losing it means another run, a cancel or the sweep ended the task first."""

from __future__ import annotations

from collections.abc import Callable

from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import Transition
from taskhook.model.outcome import Outcome
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskRepository


def end(repository: TaskRepository, task: Task, transition: Transition, status: TaskStatus, lost: str,
        after_lost: Callable[[str], Outcome] | None = None) -> Outcome:
    """Apply the ending `transition`; the message is done, unless the write lost a race and
    `after_lost(lost)` (the executor's: see run/executor.py `_lost_race`) says otherwise."""
    try:
        repository.apply(task, transition)
    except (Conflict, NotFound):
        return after_lost(lost) if after_lost is not None else Outcome.done(lost)
    return Outcome.done(status.value)
