"""One change of a task row, as the table's stream delivers it (what every stream consumer reads)."""

from __future__ import annotations

from dataclasses import dataclass

from taskhook.model.task import Task


@dataclass(frozen=True)
class Change:
    """One stream record of a task row: `old` is None for an insert."""

    sequence: str
    old: Task | None
    new: Task
    inserted: bool = False
