"""The in-memory task repository, also recording every write that succeeded as (from, to):
tests check with it that each write the engine makes is a legal transition."""

from __future__ import annotations

from taskhook.model.lifecycle import Transition
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskRepository


class RecordingRepository(InMemoryTaskRepository):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[TaskStatus, TaskStatus]] = []

    def apply(self, task: Task, transition: Transition) -> Task:
        before = self._rows.get(task.id)
        stored = super().apply(task, transition)
        assert before is not None
        self.moves.append((before.status, transition.target))
        return stored

    def terminal_writes(self) -> list[TaskStatus]:
        return [new for _, new in self.moves if new in TERMINAL]
