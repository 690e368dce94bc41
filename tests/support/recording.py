"""The in-memory task repository, also recording every write that succeeded as (from, to):
tests check with it that each write the engine makes is a legal transition."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryTaskRepository


class RecordingRepository(InMemoryTaskRepository):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[TaskStatus, TaskStatus]] = []

    def transition(self, task: Task, allowed_from: Iterable[TaskStatus], new_status: TaskStatus,
                   changes: dict[str, Any], expect: dict[str, Any] | None = None) -> Task:
        before = self._rows.get(task.id)
        stored = super().transition(task, allowed_from, new_status, changes, expect)
        assert before is not None
        self.moves.append((before.status, new_status))
        return stored

    def terminal_writes(self) -> list[TaskStatus]:
        return [new for _, new in self.moves if new in TERMINAL]
