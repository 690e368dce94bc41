"""A test oracle for ports.TaskCounts, counted from the ``byTeamPhase`` index: a Select=COUNT Query
per partition (a final status: one; no status: five), and for an open status (pending, delayed,
processing, waiting, polling) the items of the team's open tasks (the keys cannot tell their status).
Its cost grows with the team's tasks, which is why the API reads the TeamStats counters instead; the
functional tests, which run no stream to keep those counters, count the rows with this
(tests/functional/conftest.py `counted_from_rows`)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from taskhook.adapters.dynamo.errors import domain_error
from taskhook.adapters.dynamo.task_pages import TaskPages, partitions
from taskhook.model.status import TERMINAL, TaskStatus


class IndexCounts:
    def __init__(self, model: type[Model], pages: TaskPages) -> None:
        self._model = model
        self._pages = pages

    def total(self, team_id: str, status: TaskStatus | None) -> int:
        model: Any = self._model
        try:
            if status is not None and status not in TERMINAL:
                return self._pages.count_open(team_id, status)
            return sum(model.by_team_phase.count(phase) for phase in partitions(team_id, status))
        except PynamoDBException as exc:
            raise domain_error(exc, "Conflict") from exc
