"""What a list request asks for (seed 002: `status`, `limit`, `offset`, `sortOrder`, and the
`cursor` of a page before) and what the task repository answers. Parsing a request and writing
the cursor: intake/listing.py."""

from __future__ import annotations

from dataclasses import dataclass

from taskhook.model.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

DEFAULT_LIMIT, MAX_LIMIT = DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


@dataclass(frozen=True, order=True)
class Position:
    """A place in a team's list: the last row a page returned. Rows are ordered by
    (createdAt, id), so two tasks created in the same millisecond still have one order."""

    created_at: str
    task_id: str

    @staticmethod
    def of(task: Task) -> Position:
        return Position(task.createdAt, task.id)


@dataclass(frozen=True)
class ListQuery:
    status: TaskStatus | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    descending: bool = True
    after: Position | None = None  # a cursor's position: only rows after it (in this order)
    # Only this client's tasks (a client token's reads: its id, the tasks' clientId). The index
    # cannot tell a task's client: the items are read and filtered, at most MAX_FILTERED_ITEMS a call.
    client_id: str | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a list: its rows, and whether a row after the last one matches the query."""

    tasks: list[Task]
    has_more: bool
    # Where the next page starts when it is not after the last row returned: a filtered read that
    # spent its budget of items stops at the last one it examined (a short page, maybe empty).
    resume: Position | None = None

    @property
    def next_position(self) -> Position | None:
        if not self.has_more:
            return None
        if self.resume is not None:
            return self.resume
        return Position.of(self.tasks[-1]) if self.tasks else None
