"""`GET /v1/tasks`: offset and cursor pagination, sort order and the status filter, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import FAR_FUTURE, Client, Stack

URL = "https://api.example.com/webhook"


@pytest.fixture(scope="module")
def seven(stack: Stack) -> tuple[Client, list[dict[str, Any]]]:
    """A team with 7 delayed tasks created one after the other; the 2nd and the 5th cancelled."""
    team = stack.new_team()
    tasks = [team.create_ok({"targetUrl": f"{URL}?n={n}", "delayUntil": FAR_FUTURE}) for n in range(7)]
    for i in (1, 4):
        response = team.cancel(tasks[i]["id"])
        assert response.status_code == 200, response.text
        tasks[i] = response.json()["task"]
    created = [t["createdAt"] for t in tasks]
    assert created == sorted(created) and len(set(created)) == 7, "createdAt must order the tasks"
    # `pagination.total` comes from counters the tasks stream keeps: wait until they have counted
    # these changes (Client.total: until the total agrees with the tasks the list walks).
    assert (team.total(status="delayed"), team.total(status="cancelled"), team.total()) == (5, 2, 7)
    return team, tasks


def page(team: Client, **params: Any) -> dict[str, Any]:
    response = team.list(**params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tasks", "pagination"}
    return body


def ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in tasks]


def test_default_is_newest_first_limit_50(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    body = page(team)
    assert ids(body["tasks"]) == ids(tasks)[::-1]
    assert body["pagination"] == {"total": 7, "limit": 50, "offset": 0, "hasMore": False}
    assert body["tasks"][0] == team.task(tasks[-1]["id"])  # list rows are the full task


@pytest.mark.parametrize(
    ("offset", "expected", "has_more"),
    [(0, [6, 5, 4], True), (3, [3, 2, 1], True), (6, [0], False), (7, [], False), (100, [], False)],
)
def test_limit_and_offset(
    seven: tuple[Client, list[dict[str, Any]]], offset: int, expected: list[int], has_more: bool
) -> None:
    team, tasks = seven
    body = page(team, limit=3, offset=offset)
    assert ids(body["tasks"]) == [tasks[i]["id"] for i in expected]
    cursor = body["pagination"].pop("nextCursor", None)
    assert (cursor is not None) is has_more  # the cursor is there exactly when more follow
    assert body["pagination"] == {"total": 7, "limit": 3, "offset": offset, "hasMore": has_more}


def test_cursor_pages_cover_every_task_once_in_order(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sortOrder": "asc"}
    while True:
        body = page(team, **params)
        seen += ids(body["tasks"])
        if not body["pagination"]["hasMore"]:
            break
        params["cursor"] = body["pagination"]["nextCursor"]
    assert seen == ids(tasks)
    response = team.list(cursor=params["cursor"])  # made for sortOrder=asc: refused with desc
    assert (response.status_code, response.json()) == (400, {"error": "cursor is not valid for this query"})


def test_pages_cover_every_task_once(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    seen: list[str] = []
    for offset in (0, 3, 6):
        seen += ids(page(team, limit=3, offset=offset)["tasks"])
    assert sorted(seen) == sorted(ids(tasks)) and len(seen) == 7


def test_sort_order(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    asc = page(team, sortOrder="asc")["tasks"]
    desc = page(team, sortOrder="desc")["tasks"]
    assert ids(asc) == ids(tasks)
    assert ids(desc) == ids(tasks)[::-1]
    assert [t["createdAt"] for t in asc] == sorted(t["createdAt"] for t in asc)
    assert ids(page(team, sortOrder="asc", limit=2, offset=2)["tasks"]) == ids(tasks)[2:4]


def test_status_filter(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    cancelled = page(team, status="cancelled")
    assert ids(cancelled["tasks"]) == [tasks[4]["id"], tasks[1]["id"]]
    assert team.total(status="cancelled") == 2
    assert {t["status"] for t in cancelled["tasks"]} == {"cancelled"}

    delayed = page(team, status="delayed", sortOrder="asc", limit=2, offset=2)
    assert ids(delayed["tasks"]) == [tasks[3]["id"], tasks[5]["id"]]
    assert delayed["pagination"].pop("nextCursor")
    assert delayed["pagination"] == {"total": 5, "limit": 2, "offset": 2, "hasMore": True}

    for status in ("pending", "processing", "completed", "failed", "timeout", "waiting", "polling"):
        assert page(team, status=status) == {
            "tasks": [], "pagination": {"total": 0, "limit": 50, "offset": 0, "hasMore": False}
        }, status


def test_limit_bounds(seven: tuple[Client, list[dict[str, Any]]]) -> None:
    team, tasks = seven
    assert len(page(team, limit=1)["tasks"]) == 1
    assert page(team, limit=100)["pagination"]["limit"] == 100
    for bad in ("0", "101"):
        response = team.list(limit=bad)
        assert response.status_code == 400, response.text
        assert response.json() == {"error": "limit must be an integer between 1 and 100"}


def test_an_empty_team_lists_nothing(stack: Stack) -> None:
    team = stack.new_team()
    assert page(team) == {"tasks": [], "pagination": {"total": 0, "limit": 50, "offset": 0, "hasMore": False}}
