"""`GET /v1/tasks` filtered on kind, namespace, name and clientId (no index serves them: the items
read are filtered, a bounded number per request) and `q` (search by id: one GetItem), on moto."""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.adapters.dynamo import task_pages
from taskhook.container import container
from taskhook.intake.listing import pagination, parse_list_query
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.api_client import ApiClient

from .conftest import Provisioned
from .test_task_lists import Calls, calls, stamp  # noqa: F401 - the fixture

S = TaskStatus
TEAM = "team-a"
URL = "https://api.example.com/webhook"


def seed(count: int, every: int = 3) -> list[Task]:
    """`count` tasks: every `every`-th a function task `ns.fn` of client cli_1 (the rest HTTP, some
    polling a provider), statuses alternating pending / completed."""
    repository = container().task_repository
    tasks = []
    for n in range(count):
        fields: dict[str, Any] = {"targetUrl": URL}
        if n % every == 0:
            fields = {"kind": "function", "namespace": "ns", "name": "fn", "clientId": "cli_1"}
        elif n % 2:
            fields["provider"] = "replicate"
        task = Task(id=f"t-{n:03d}", teamId=TEAM, status=S.PENDING if n % 2 else S.COMPLETED,
                    createdAt=stamp(n), updatedAt=stamp(n), **fields)
        repository.put_new(task)
        tasks.append(task)
    return tasks


def one_page(params: dict[str, str], limit: int, cursor: str = "") -> dict[str, Any]:
    query = parse_list_query({**params, "limit": str(limit), "cursor": cursor})
    page, total = container().task_service.list(TEAM, query)
    return {"tasks": [t.id for t in page.tasks], "pagination": pagination(total, query, page)}


def walk(params: dict[str, str], limit: int = 2) -> list[dict[str, Any]]:
    pages, cursor = [], ""
    while True:
        body = one_page(params, limit, cursor)
        pages.append(body)
        if not body["pagination"]["hasMore"]:
            return pages
        cursor = body["pagination"]["nextCursor"]


def newest_first(tasks: list[Task]) -> list[str]:
    return [t.id for t in sorted(tasks, key=lambda t: (t.createdAt, t.id), reverse=True)]


def test_each_filter_alone_and_with_status_pages_by_cursor_without_a_total(aws: Provisioned) -> None:
    tasks = seed(14)
    cases: list[tuple[dict[str, str], Any]] = [
        ({"kind": "function"}, lambda t: t.kind == "function"),
        ({"kind": "provider"}, lambda t: t.provider is not None),
        ({"kind": "http"}, lambda t: t.kind == "http" and t.provider is None),
        ({"namespace": "ns", "name": "fn"}, lambda t: t.name == "fn"),
        ({"clientId": "cli_1", "status": "completed"}, lambda t: t.clientId == "cli_1" and t.status is S.COMPLETED),
        ({"kind": "function", "status": "pending"}, lambda t: t.kind == "function" and t.status is S.PENDING),
    ]
    for params, wanted in cases:
        pages = walk(params)
        assert [row for page in pages for row in page["tasks"]] == newest_first([t for t in tasks if wanted(t)]), params
        assert all(page["pagination"]["total"] is None for page in pages)


def test_a_rare_match_is_searched_a_bounded_number_of_items_per_request(
        aws: Provisioned, calls: Calls, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(task_pages, "FILTER_EXAMINE_LIMIT", 10)
    tasks = seed(45, every=20)  # t-000, t-020, t-040 are the function tasks
    calls.calls.clear()

    first = one_page({"kind": "function"}, limit=5)

    read = [len(r["Keys"]) for params, _ in calls.named("BatchGetItem") for r in params["RequestItems"].values()]
    assert sum(read) == 10  # the budget, not the history
    assert first["tasks"] == ["t-040"] and first["pagination"]["hasMore"] is True
    pages = walk({"kind": "function"}, limit=5)
    assert [row for page in pages for row in page["tasks"]] == ["t-040", "t-020", "t-000"]
    assert len(pages) == 5 and len(tasks) == 45  # 45 items, 10 a request


def test_q_finds_one_task_by_id_of_the_team_only(aws: Provisioned) -> None:
    seed(4)
    container().task_repository.put_new(Task(id="other", teamId="team-b", status=S.PENDING, createdAt=stamp(1),
                                             targetUrl=URL))
    api = ApiClient(TEAM)
    code, body = api.call("GET", "/v1/tasks?q=t-002")
    assert code == 200 and [t["id"] for t in body["tasks"]] == ["t-002"]
    assert body["pagination"] == {"total": 1, "limit": 50, "offset": 0, "hasMore": False}
    for missing in ("other", "nope", "t-002&status=pending", "t-001&kind=function"):
        code, body = api.call("GET", f"/v1/tasks?q={missing}")
        assert (code, body["tasks"], body["pagination"]["total"]) == (200, [], 0), missing


def test_bad_filters_are_400_and_a_cursor_keeps_its_filters(aws: Provisioned) -> None:
    seed(6)
    api = ApiClient(TEAM)
    assert api.call("GET", "/v1/tasks?kind=cron") == (400, {"error": "kind must be one of: http, provider, function"})
    assert api.call("GET", f"/v1/tasks?name={'x' * 201}") == (400, {"error": "name must be at most 200 characters"})
    code, body = api.call("GET", "/v1/tasks?kind=function&limit=1")
    assert code == 200 and body["pagination"]["total"] is None and "attempts" not in body["tasks"][0]
    cursor = body["pagination"]["nextCursor"]
    assert api.call("GET", f"/v1/tasks?kind=http&limit=1&cursor={cursor}") == (
        400, {"error": "cursor is not valid for this query"})
    assert api.call("GET", f"/v1/tasks?kind=function&limit=1&cursor={cursor}")[0] == 200
