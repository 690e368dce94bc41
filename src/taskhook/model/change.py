"""One change of a task row, as the table's stream delivers it (what every stream consumer reads)."""

from __future__ import annotations

from dataclasses import dataclass

from taskhook.model.task import Task


@dataclass(frozen=True)
class Change:
    """One stream record of a task row: `old` is None for an insert. A removal (`removed`: the row
    was deleted, by TTL on AWS or by the local stack's expiry) carries the row's last image as both
    `old` and `new`; only consumers that ask for removals see one (dispatch/stream.py)."""

    sequence: str
    old: Task | None
    new: Task
    inserted: bool = False
    removed: bool = False
