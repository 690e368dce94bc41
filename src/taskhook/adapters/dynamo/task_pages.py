"""A team's list of tasks from the ``byTeamPhase`` index (KEYS_ONLY, adapters/dynamo/tables.py):
index keys in order, then the page's items by BatchGetItem (eventually consistent, as the index is).

- A final status (completed, failed, timeout, cancelled) is one partition, ``<team>#<status>``.
- An open status (pending, delayed, processing, waiting, polling) is the ``<team>#open``
  partition, its items filtered on their status after the BatchGet, read on until the page is
  full (and one row more, for ``hasMore``). What that reads is bounded by the team's open tasks,
  never by its history; an offset into such a filter reads the items it skips (the keys cannot tell
  their status).
- No status: the open partition and the four final ones merged by (createdAt, id).
- `kind`, `namespace`, `name`, `clientId` (model/listing.py ItemFilter): no index holds them, so the
  items read are filtered, at most FILTER_EXAMINE_LIMIT per request; when that runs out before the
  page is full, the page comes back short with `hasMore` and a cursor at the last item examined.
  A client token's list is the `clientId` filter set to its own client (functions/api.py).

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
from taskhook.model.listing import ListPage, ListQuery, Position
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task

BATCH_GET_MAX = 100  # keys per BatchGetItem request
# Items a request filtered on kind, namespace, name or clientId examines at most (five BatchGetItem
# requests): a rare match never makes one request read the team's whole history; the page comes
# back short, with a cursor from the last item examined.
FILTER_EXAMINE_LIMIT = 500
KEY_PAGE_MAX = 1000  # index entries per Query page (KEYS_ONLY entries are about 100 bytes)
FINAL_STATUSES = tuple(sorted(TERMINAL))


def partitions(team_id: str, status: TaskStatus | None) -> list[str]:
    """The ``teamPhase`` partitions that hold a team's tasks in `status` (None: all of them)."""
    if status is None:
        return [team_phase(team_id, None), *(team_phase(team_id, s) for s in FINAL_STATUSES)]
    return [team_phase(team_id, status)]


def _after(position: Position, after: Position | None, descending: bool) -> bool:
    return after is None or (position < after if descending else position > after)


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
        # An open status shares its partition with the other open ones: only the items tell.
        check = query.status if query.status is not None and query.status not in TERMINAL else None
        filters = query.filters
        filtered = check is not None or filters.active
        budget = FILTER_EXAMINE_LIMIT if filters.active else None
        keys: Iterator[Position] = self.ordered_keys(team_id, query, query.offset + query.limit + 1)
        skip = query.offset
        if not filtered:
            keys, skip = itertools.islice(keys, query.offset, None), 0  # the offset reads keys only
        wanted = query.limit + (1 if filtered else 0)  # unfiltered: the next key tells hasMore
        found: list[Task] = []
        examined = 0
        last: Position | None = None
        while len(found) < wanted:
            size = min(BATCH_GET_MAX, skip + wanted - len(found))
            if budget is not None and examined + size > budget:
                size = budget - examined
                if size <= 0:  # the budget is spent: a short page, resumed after the last item examined
                    more = next(keys, None) is not None
                    return ListPage(found[:query.limit], has_more=more, resume_at=last if more else None)
            batch = list(itertools.islice(keys, size))
            if not batch:
                break
            examined += len(batch)
            last = batch[-1]
            items = self.items(batch)
            for position in batch:
                task = items.get(position.task_id)
                if task is None or (check is not None and task.status is not check) or not filters.matches(task):
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
