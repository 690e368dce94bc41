"""Ending a task from a run (the executor's claim, or a polling task's poll token): one conditional
write; losing it means another run, a cancel or the sweep ended the task first."""

from __future__ import annotations

from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import Transition
from taskhook.model.outcome import Outcome
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import TaskRepository


def end(repository: TaskRepository, task: Task, transition: Transition, status: TaskStatus, lost: str) -> Outcome:
    """Apply the ending `transition`; the message is done either way (`lost` notes a lost race)."""
    try:
        repository.apply(task, transition)
    except (Conflict, NotFound):
        return Outcome.done(lost)
    return Outcome.done(status.value)
