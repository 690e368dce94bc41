"""A team's list of tasks from the ``byTeamPhase`` index (KEYS_ONLY, adapters/dynamo/tables.py):
index keys in order, then the page's items by BatchGetItem (eventually consistent, as the index is).

- A final status (completed, failed, timeout, cancelled) is one partition, ``<team>#<status>``.
- An open status (pending, delayed, processing, waiting, polling) is the ``<team>#open``
  partition, its items filtered on their status after the BatchGet, read on until the page is
  full (and one row more, for ``hasMore``). What that reads is bounded by the team's open tasks,
  never by its history; an offset into such a filter reads the items it skips (the keys cannot tell
  their status).
- No status: the open partition and the four final ones merged by (createdAt, id).
- A client (a client token's reads, ``ListQuery.client_id``): no index holds a task's client, so the
  partitions' items are read and filtered on ``clientId``, at most MAX_FILTERED_ITEMS per call: a
  page that is not full by then is returned short, its cursor at the last item examined. Cost: one
  BatchGetItem per 100 of the team's tasks examined, whatever the client's share of them.

Each partition's keys are ordered by (createdAt, id): DynamoDB orders entries with equal
``createdAt`` in no documented way, so a run of equal ``createdAt`` is sorted by id before it is
merged. An offset skips keys, never items (except under an open filter, above); a cursor's
position starts each partition's Query at its ``createdAt``, so nothing before it is read but
the rows of that same millisecond. An index entry whose item is gone (expired meanwhile) is
passed over; a task seen twice while the index catches up with its move (open, then final) is
listed once.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from taskhook.adapters.dynamo.errors import domain_error
from taskhook.adapters.dynamo.tables import team_phase
from taskhook.model.limits import MAX_FILTERED_ITEMS
from taskhook.model.listing import ListPage, ListQuery, Position
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task

BATCH_GET_MAX = 100  # keys per BatchGetItem request
KEY_PAGE_MAX = 1000  # index entries per Query page (KEYS_ONLY entries are about 100 bytes)
FINAL_STATUSES = tuple(sorted(TERMINAL))


def partitions(team_id: str, status: TaskStatus | None) -> list[str]:
    """The ``teamPhase`` partitions that hold a team's tasks in `status` (None: all of them)."""
    if status is None:
        return [team_phase(team_id, None), *(team_phase(team_id, s) for s in FINAL_STATUSES)]
    return [team_phase(team_id, status)]


def _after(position: Position, after: Position | None, descending: bool) -> bool:
    return after is None or (position < after if descending else position > after)


def _matches(task: Task, status: TaskStatus | None, client_id: str | None) -> bool:
    return (status is None or task.status is status) and (client_id is None or task.clientId == client_id)


class TaskPages:
    def __init__(self, model: type[Model], to_task: Callable[[Any], Task]) -> None:
        self._model = model
        self._to_task = to_task

    def keys(self, phase: str, query: ListQuery, page_size: int) -> Iterator[Position]:
        """One partition's index keys in (createdAt, id) order, after the query's position."""
        model: Any = self._model
        after = query.after
        condition = None
        if after is not None:
            condition = (model.createdAt <= after.created_at if query.descending
                         else model.createdAt >= after.created_at)
        rows = model.by_team_phase.query(phase, condition, scan_index_forward=not query.descending,
                                         page_size=max(1, min(page_size, KEY_PAGE_MAX)))
        positions = (Position(row.createdAt, row.id) for row in rows)
        for _, tied in itertools.groupby(positions, key=lambda p: p.created_at):
            for position in sorted(tied, reverse=query.descending):
                if _after(position, after, query.descending):
                    yield position

    def ordered_keys(self, team_id: str, query: ListQuery, page_size: int) -> Iterator[Position]:
        """The keys of every partition the query covers, merged, each task once."""
        streams = [self.keys(phase, query, page_size) for phase in partitions(team_id, query.status)]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=query.descending)
        previous = None
        for position in merged:
            if position != previous:
                yield position
            previous = position

    def items(self, positions: Iterable[Position]) -> dict[str, Task]:
        """The tasks at `positions` (at most BATCH_GET_MAX), by id; those that are gone are absent."""
        ids = [p.task_id for p in positions]
        model: Any = self._model
        return {row.id: self._to_task(row) for row in model.batch_get(ids, consistent_read=False)}

    def page(self, team_id: str, query: ListQuery) -> ListPage:
        try:
            return self._page(team_id, query)
        except PynamoDBException as exc:
            raise domain_error(exc, "Conflict") from exc

    def _page(self, team_id: str, query: ListQuery) -> ListPage:
        # An open status shares its partition with the other open ones: only the items tell. So
        # does a client (the index has no clientId): its filter reads at most MAX_FILTERED_ITEMS.
        check = query.status if query.status is not None and query.status not in TERMINAL else None
        filtered = check is not None or query.client_id is not None
        budget = MAX_FILTERED_ITEMS if query.client_id is not None else None
        keys: Iterator[Position] = self.ordered_keys(team_id, query, query.offset + query.limit + 1)
        skip = query.offset
        if not filtered:
            keys, skip = itertools.islice(keys, query.offset, None), 0  # the offset reads keys only
        wanted = query.limit + (1 if filtered else 0)  # unfiltered: the next key tells hasMore
        found: list[Task] = []
        examined: Position | None = None
        spent = 0
        while len(found) < wanted:
            size = min(BATCH_GET_MAX, skip + wanted - len(found))
            if budget is not None and spent + size > budget:
                size = budget - spent
                if size <= 0:  # the budget is spent: a short page, the next one goes on from here
                    more = next(keys, None) is not None
                    return ListPage(found, has_more=more, resume=examined if more else None)
            batch = list(itertools.islice(keys, size))
            if not batch:
                break
            spent += len(batch)
            items = self.items(batch)
            for position in batch:
                examined = position
                task = items.get(position.task_id)
                if task is None or not _matches(task, check, query.client_id):
                    continue
                if skip:
                    skip -= 1
                else:
                    found.append(task)
        if filtered:
            return ListPage(found[:query.limit], has_more=len(found) > query.limit)
        return ListPage(found, has_more=len(found) == query.limit and next(keys, None) is not None)

    def count_open(self, team_id: str, status: TaskStatus) -> int:
        """Tasks of the team's open partition in `status`: reads each open task's item."""
        keys = self.ordered_keys(team_id, ListQuery(status=status), KEY_PAGE_MAX)
        total = 0
        while batch := list(itertools.islice(keys, BATCH_GET_MAX)):
            total += sum(1 for task in self.items(batch).values() if task.status is status)
        return total
