"""adapters/dynamo/task_pages.py's ordering, on an index that behaves as DynamoDB may and moto does
not: entries with equal createdAt in any order, and a task in two partitions while the index
catches up with its move (open, then final). No AWS: a stand-in for the model's index and BatchGet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from taskhook.adapters.dynamo.task_pages import TaskPages
from taskhook.model.listing import ListQuery
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

TEAM = "team-a"


@dataclass
class Row:
    id: str
    createdAt: str  # noqa: N815 - the attribute's DynamoDB name


class Index:
    def __init__(self, partitions: dict[str, list[Row]]) -> None:
        self.partitions = partitions

    def query(self, phase: str, condition: Any, scan_index_forward: bool, page_size: int) -> Iterator[Row]:
        assert condition is None
        rows = self.partitions.get(phase, [])
        # Ordered by createdAt only; equal ones stay in the stored (scrambled) order, both ways.
        return iter(sorted(rows, key=lambda r: r.createdAt, reverse=not scan_index_forward))


def make_model(partitions: dict[str, list[Row]], statuses: dict[str, TaskStatus]) -> Any:
    rows = {row.id: row for rows in partitions.values() for row in rows}

    class Model:
        by_team_phase = Index(partitions)

        @staticmethod
        def batch_get(ids: list[str], consistent_read: bool) -> Iterator[Row]:
            assert len(ids) == len(set(ids)), "BatchGetItem refuses a key asked twice"
            return iter([rows[i] for i in reversed(ids)])  # BatchGetItem keeps no order

    return Model, lambda row: Task(id=row.id, teamId=TEAM, status=statuses[row.id], createdAt=row.createdAt)


AT = "2026-12-01T10:00:00.000Z"
LATER = "2026-12-01T10:00:00.001Z"


@pytest.mark.parametrize("descending", [True, False])
def test_equal_created_at_is_ordered_by_id_whatever_order_the_index_gives(descending: bool) -> None:
    open_rows = [Row("c", AT), Row("a", AT), Row("e", LATER), Row("b", AT)]
    final_rows = [Row("d", AT), Row("f", LATER)]
    statuses = {"a": TaskStatus.PENDING, "b": TaskStatus.PROCESSING, "c": TaskStatus.PENDING,
                "d": TaskStatus.COMPLETED, "e": TaskStatus.PENDING, "f": TaskStatus.COMPLETED}
    model, to_task = make_model({f"{TEAM}#open": open_rows, f"{TEAM}#completed": final_rows}, statuses)
    pages = TaskPages(model, to_task)

    everything = pages.page(TEAM, ListQuery(descending=descending))
    pending = pages.page(TEAM, ListQuery(status=TaskStatus.PENDING, descending=descending))

    ascending = ["a", "b", "c", "d", "e", "f"]
    assert [t.id for t in everything.tasks] == (ascending[::-1] if descending else ascending)
    assert [t.id for t in pending.tasks] == (["e", "c", "a"] if descending else ["a", "c", "e"])


def test_a_task_in_two_partitions_while_the_index_catches_up_is_listed_once() -> None:
    moved = Row("m", AT)
    model, to_task = make_model({f"{TEAM}#open": [moved, Row("p", LATER)], f"{TEAM}#failed": [moved]},
                                {"m": TaskStatus.FAILED, "p": TaskStatus.PENDING})
    pages = TaskPages(model, to_task)

    page = pages.page(TEAM, ListQuery())

    assert [t.id for t in page.tasks] == ["p", "m"]
    # The open filter reads the item: the stale open entry of a failed task is not pending.
    assert [t.id for t in pages.page(TEAM, ListQuery(status=TaskStatus.PENDING)).tasks] == ["p"]
