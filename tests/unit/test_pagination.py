"""`GET /v1/tasks` query parsing, the `pagination` object (seed 002) and the opaque cursor."""

from __future__ import annotations

import base64
import json

import pytest

from taskhook.intake.listing import (
    CURSOR_WITH_OFFSET,
    INVALID_CURSOR,
    ListQuery,
    encode_cursor,
    pagination,
    parse_list_query,
)
from taskhook.model.errors import ValidationFailed
from taskhook.model.listing import ListPage, Position
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

LIMIT = "limit must be an integer between 1 and 100"
OFFSET = "offset must be an integer between 0 and 100000"
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


def task(n: int) -> Task:
    return Task(id=f"task-{n}", teamId="team", status=TaskStatus.PENDING, createdAt=f"2024-01-15T10:30:0{n}.000Z")


@pytest.mark.parametrize("has_more", [False, True])
def test_pagination_object(has_more: bool) -> None:
    query = ListQuery(limit=2, offset=4)
    page = ListPage([task(1), task(2)], has_more=has_more)
    expected: dict[str, object] = {"total": 150, "limit": 2, "offset": 4, "hasMore": has_more}
    if has_more:  # the cursor names the last row returned, for this query
        expected["nextCursor"] = encode_cursor(Position("2024-01-15T10:30:02.000Z", "task-2"), query)
    assert pagination(150, query, page) == expected
    assert pagination(0, ListQuery(), ListPage([], has_more=False)) == {
        "total": 0, "limit": 50, "offset": 0, "hasMore": False}


# ---- the cursor ---------------------------------------------------------------------------------

POSITION = Position("2024-01-15T10:30:00.123Z", "550e8400-e29b-41d4-a716-446655440000")


@pytest.mark.parametrize("params", [{}, {"status": "pending"}, {"status": "completed", "sortOrder": "asc"},
                                    {"sortOrder": "asc", "limit": "7"}])
def test_a_cursor_gives_back_its_position_for_the_query_it_was_made_for(params: dict[str, str]) -> None:
    query = parse_list_query(params)
    cursor = encode_cursor(POSITION, query)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # base64url
    again = parse_list_query({**params, "cursor": cursor, "limit": "3"})
    assert again.after == POSITION
    assert (again.status, again.descending, again.limit, again.offset) == (query.status, query.descending, 3, 0)


def raw_cursor(fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()


GOOD = {"v": 1, "at": POSITION.created_at, "id": POSITION.task_id, "status": None, "sort": "desc"}


@pytest.mark.parametrize("cursor", [
    "x", "!!!!", "not a cursor", "é" * 8, "A" * 600, base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    raw_cursor([1, 2]), raw_cursor("text"), raw_cursor({**GOOD, "extra": 1}),
    raw_cursor({k: v for k, v in GOOD.items() if k != "id"}), raw_cursor({**GOOD, "v": 2}),
    raw_cursor({**GOOD, "at": ""}), raw_cursor({**GOOD, "at": "yesterday"}), raw_cursor({**GOOD, "at": 5}),
    raw_cursor({**GOOD, "at": "2024-01-15 10:30:00"}), raw_cursor({**GOOD, "id": ""}),
    raw_cursor({**GOOD, "id": "x" * 129}), raw_cursor({**GOOD, "id": None}),
], ids=lambda c: c[:24])
def test_a_malformed_cursor_is_a_400(cursor: str) -> None:
    assert error_of({"cursor": cursor}) == INVALID_CURSOR


@pytest.mark.parametrize(("made_for", "used_with"), [
    ({}, {"status": "pending"}),
    ({"status": "pending"}, {}),
    ({"status": "pending"}, {"status": "processing"}),
    ({"status": "completed"}, {"status": "failed"}),
    ({}, {"sortOrder": "asc"}),
    ({"sortOrder": "asc", "status": "failed"}, {"status": "failed"}),
])
def test_a_cursor_used_with_another_filter_or_order_is_a_400(made_for: dict[str, str],
                                                             used_with: dict[str, str]) -> None:
    cursor = encode_cursor(POSITION, parse_list_query(made_for))
    assert error_of({**used_with, "cursor": cursor}) == INVALID_CURSOR


def test_a_cursor_with_an_offset_is_a_400() -> None:
    cursor = encode_cursor(POSITION, ListQuery())
    assert error_of({"cursor": cursor, "offset": "10"}) == CURSOR_WITH_OFFSET
    assert parse_list_query({"cursor": cursor, "offset": "0"}).after == POSITION
    assert parse_list_query({"cursor": ""}).after is None


@pytest.mark.parametrize("name", ["offset", "limit"])
def test_an_integer_too_long_to_convert_is_a_400_not_a_500(name: str) -> None:
    """Python refuses int() of more than 4300 digits (ValueError): that is bad input, not a crash."""
    message = ("offset must be an integer between 0 and 100000" if name == "offset"
               else "limit must be an integer between 1 and 100")
    assert error_of({name: "9" * 5000}) == message
