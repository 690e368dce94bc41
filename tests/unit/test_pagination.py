"""`GET /v1/tasks` query parsing and the `pagination` object (seed 002)."""

from __future__ import annotations

import pytest

from taskhook.intake.listing import ListQuery, pagination, parse_list_query
from taskhook.model.errors import ValidationFailed
from taskhook.model.status import TaskStatus

LIMIT = "limit must be an integer between 1 and 100"
OFFSET = "offset must be an integer >= 0"
STATUS = "status must be one of: pending, delayed, processing, waiting, polling, completed, failed, timeout, cancelled"
SORT = "sortOrder must be one of: asc, desc"


def error_of(params: dict[str, str]) -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_list_query(params)
    assert info.value.status_code == 400
    return info.value.message


@pytest.mark.parametrize("params", [None, {}, {"status": "", "limit": "", "offset": "", "sortOrder": ""}])
def test_defaults(params: dict[str, str] | None) -> None:
    assert parse_list_query(params) == ListQuery(status=None, limit=50, offset=0, descending=True)


def test_seed_example_query() -> None:
    assert parse_list_query({"status": "pending", "limit": "10"}) == ListQuery(
        status=TaskStatus.PENDING, limit=10, offset=0, descending=True
    )


@pytest.mark.parametrize("status", list(TaskStatus), ids=lambda s: s.value)
def test_every_status_is_a_filter(status: TaskStatus) -> None:
    assert parse_list_query({"status": status.value}).status is status


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"limit": "1"}, "limit", 1),
        ({"limit": "100"}, "limit", 100),
        ({"limit": "37"}, "limit", 37),
        ({"offset": "0"}, "offset", 0),
        ({"offset": "150"}, "offset", 150),
        ({"sortOrder": "asc"}, "descending", False),
        ({"sortOrder": "desc"}, "descending", True),
    ],
)
def test_valid_values(params: dict[str, str], field: str, value: object) -> None:
    assert getattr(parse_list_query(params), field) == value


@pytest.mark.parametrize(
    ("params", "message"),
    [
        *[({"limit": v}, LIMIT) for v in ["0", "101", "abc", "-1", "1.5", "1e2", " ", "10abc", "1000000"]],
        *[({"offset": v}, OFFSET) for v in ["-1", "abc", "1.5", "zero"]],
        *[({"status": v}, STATUS) for v in ["done", "PENDING", "Pending", "canceled", "all"]],
        *[({"sortOrder": v}, SORT) for v in ["ascending", "ASC", "Desc", "up", "newest"]],
        ({"page": "2"}, "Unknown query parameter: page"),
        ({"wait": "5"}, "Unknown query parameter: wait"),
        ({"limit": "10", "sort": "asc"}, "Unknown query parameter: sort"),
        # several unknown parameters: the first in alphabetical order is named
        ({"zeta": "1", "alpha": "1"}, "Unknown query parameter: alpha"),
        # unknown parameters are reported before bad values
        ({"limit": "0", "foo": "1"}, "Unknown query parameter: foo"),
    ],
)
def test_invalid_query_gives_its_exact_message(params: dict[str, str], message: str) -> None:
    assert error_of(params) == message


@pytest.mark.parametrize(
    ("total", "limit", "offset", "has_more"),
    [
        (0, 50, 0, False),  # nothing at all
        (150, 10, 0, True),  # seed 002's example
        (10, 10, 0, False),  # the page ends exactly at the last task
        (11, 10, 0, True),  # one more task after the page
        (11, 10, 1, False),  # ... which the next offset reaches
        (11, 10, 10, False),  # the last, partial page
        (100, 50, 50, False),
        (101, 50, 50, True),
        (5, 10, 20, False),  # offset past the end
        (1, 1, 0, False),
        (2, 1, 0, True),
    ],
)
def test_pagination_object(total: int, limit: int, offset: int, has_more: bool) -> None:
    query = ListQuery(limit=limit, offset=offset)
    assert pagination(total, query) == {
        "total": total,
        "limit": limit,
        "offset": offset,
        "hasMore": has_more,
    }
