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


KINDS = ("http", "provider", "function")


def kind_of(task: Task) -> str:
    """What the list's `kind` filter calls a task: a function task, an HTTP task polling a provider
    (`provider` or `pollConfig`), or a plain HTTP task."""
    if task.kind == "function":
        return "function"
    return "provider" if task.provider is not None or task.pollConfig is not None else "http"


@dataclass(frozen=True)
class ItemFilter:
    """Filters no index serves (`kind`, `namespace`, `name`, `clientId`): applied to the items read,
    with a bounded number of items examined per request (adapters/dynamo/task_pages.py)."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    client_id: str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.kind, self.namespace, self.name, self.client_id))

    def matches(self, task: Task) -> bool:
        return ((self.kind is None or kind_of(task) == self.kind)
                and (self.namespace is None or task.namespace == self.namespace)
                and (self.name is None or task.name == self.name)
                and (self.client_id is None or task.clientId == self.client_id))

    def fields(self) -> dict[str, str]:
        """The filters set, by their query parameter names (a cursor carries them)."""
        named = {"kind": self.kind, "namespace": self.namespace, "name": self.name, "clientId": self.client_id}
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class ListQuery:
    status: TaskStatus | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    descending: bool = True
    after: Position | None = None  # a cursor's position: only rows after it (in this order)
    filters: ItemFilter = ItemFilter()
    task_id: str | None = None  # `q`: the one task with this id (search by id)


@dataclass(frozen=True)
class ListPage:
    """One page of a list: its rows, and whether a row after the last one matches the query.
    `resume_at`: where the next page starts when it is not after the last row (a filtered page cut
    short by its budget of items examined)."""

    tasks: list[Task]
    has_more: bool
    resume_at: Position | None = None

    @property
    def next_position(self) -> Position | None:
        if not self.has_more:
            return None
        if self.resume_at is not None:
            return self.resume_at
        return Position.of(self.tasks[-1]) if self.tasks else None
