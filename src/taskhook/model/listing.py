"""What a list request asks for (seed 002: `status`, `limit`, `offset`, `sortOrder`): the value the
task repository answers. Parsing it from a request: intake/listing.py."""

from __future__ import annotations

from dataclasses import dataclass

from taskhook.model.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from taskhook.model.status import TaskStatus

DEFAULT_LIMIT, MAX_LIMIT = DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


@dataclass(frozen=True)
class ListQuery:
    status: TaskStatus | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    descending: bool = True
