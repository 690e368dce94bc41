"""`GET /v1/tasks` on the byTeamPhase layout (moto): keys from the KEYS_ONLY index, items by
BatchGetItem, every filter, both orders, offsets and cursors (across the merge of the open and the
four final partitions, through ties on createdAt), bad cursors refused with nothing changed, and
the writes of a task's run that must not touch the list index (bench/capacity.py on the raw items).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest

import app as lambdas
from bench.capacity import tasks_table, write_units
from taskhook.adapters.dynamo.notification_log import DynamoNotificationLog
from taskhook.container import container
from taskhook.intake.listing import encode_cursor, pagination, parse_list_query
from taskhook.model import lifecycle
from taskhook.model.clock import iso
from taskhook.model.listing import ListQuery, Position
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.notify.rules import Notification

from .conftest import Provisioned
from .test_handlers import context, load_event, set_header

S = TaskStatus
TEAM, OTHER_TEAM = "team-a", "team-b"
URL = "https://api.example.com/webhook"
START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
ORDER = list(TaskStatus)  # every status, open and final
FILTERS: list[TaskStatus | None] = [None, *TaskStatus]


def stamp(n: int) -> str:
    return iso(START + timedelta(milliseconds=n))


def seeded(aws: Provisioned, count: int = 20) -> list[Task]:
    """`count` tasks of TEAM in every status, three per millisecond (ties on createdAt, ids not in
    insertion order), and a few of OTHER_TEAM in between that no list of TEAM may show."""
    repository = container().task_repository
    tasks = []
    for n in range(count):
        task = Task(id=f"t-{(n * 7) % count:03d}", teamId=TEAM, status=ORDER[n % len(ORDER)],
                    createdAt=stamp(n // 3), updatedAt=stamp(n // 3), targetUrl=URL)
        repository.put_new(task)
        tasks.append(task)
    for n in range(4):
        repository.put_new(Task(id=f"o-{n}", teamId=OTHER_TEAM, status=ORDER[n], createdAt=stamp(n), targetUrl=URL))
    return tasks


def expected(tasks: list[Task], status: TaskStatus | None, descending: bool) -> list[str]:
    rows = sorted((t for t in tasks if status is None or t.status is status), key=Position.of, reverse=descending)
    return [t.id for t in rows]


def list_page(params: dict[str, str], team: str = TEAM) -> dict[str, Any]:
    """What the handler answers, without the HTTP plumbing: parse, list, the pagination object."""
    query = parse_list_query(params)
    page, total = container().task_service.list(team, query)
    return {"tasks": [t.id for t in page.tasks], "pagination": pagination(total, query, page)}


def walk_by_cursor(params: dict[str, str], limit: int) -> Iterator[dict[str, Any]]:
    """Page after page by `nextCursor` (the repository's pages; the total is not asked for)."""
    cursor = ""
    while True:
        query = parse_list_query({**params, "limit": str(limit), "cursor": cursor})
        page = container().task_repository.list_for_team(TEAM, query)
        body = {"tasks": [t.id for t in page.tasks], "pagination": pagination(-1, query, page)}
        yield body
        if not body["pagination"]["hasMore"]:
            return
        cursor = body["pagination"]["nextCursor"]


@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
def test_every_filter_by_offset_and_by_cursor(aws: Provisioned, counted_from_rows: None, descending: bool) -> None:
    tasks = seeded(aws)  # one seeding for every filter: a moto account costs seconds
    for status in FILTERS:
        want = expected(tasks, status, descending)
        params = {"sortOrder": "desc" if descending else "asc", **({"status": status.value} if status else {})}

        whole = list_page(params)
        assert whole["tasks"] == want, status
        assert whole["pagination"] == {"total": len(want), "limit": 50, "offset": 0, "hasMore": False}

        # limit 1 crosses every boundary: partitions, ties, the merge
        pages = list(walk_by_cursor(params, 1))
        assert [row for page in pages for row in page["tasks"]] == want, status
        assert all(len(page["tasks"]) == 1 for page in pages[:-1])
        assert all(("nextCursor" in page["pagination"]) is page["pagination"]["hasMore"] for page in pages)

        limit, seen = 3, []
        for offset in range(0, len(want) + limit, limit):
            body = list_page({**params, "limit": str(limit), "offset": str(offset)})
            assert body["tasks"] == want[offset:offset + limit], (status, offset)
            assert body["pagination"]["hasMore"] is (offset + limit < len(want))
            seen += body["tasks"]
        assert seen == want


def test_the_lists_are_each_teams_own(aws: Provisioned) -> None:
    seeded(aws)
    other = list_page({}, team=OTHER_TEAM)
    assert other["tasks"] == ["o-3", "o-2", "o-1", "o-0"]
    assert list_page({}, team="team-nobody") == {
        "tasks": [], "pagination": {"total": 0, "limit": 50, "offset": 0, "hasMore": False}}


class Calls:
    """Every DynamoDB call of this process with its answer (PynamoDB's and boto3's alike)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def named(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(params, answer) for op, params, answer in self.calls if op == name]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    recorded = Calls()
    original = botocore.client.BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        if self.meta.service_model.service_name == "dynamodb":
            recorded.calls.append((operation, dict(params), answer))
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return recorded


@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
def test_a_cursor_reads_nothing_before_its_position(aws: Provisioned, calls: Calls, descending: bool) -> None:
    tasks = seeded(aws, 60)
    want = expected(tasks, None, descending)
    first = list_page({"limit": "20", "sortOrder": "desc" if descending else "asc"})
    position = Position.of(next(t for t in tasks if t.id == first["tasks"][-1]))
    calls.calls.clear()
    repository = container().task_repository

    page = repository.list_for_team(TEAM, ListQuery(limit=20, descending=descending, after=position))

    assert [t.id for t in page.tasks] == want[20:40]
    queries = calls.named("Query")
    assert len(queries) == 5  # the open partition and the four final ones
    for params, answer in queries:
        assert params["IndexName"] == "byTeamPhase"
        for item in answer["Items"]:  # nothing before the position but its own millisecond
            created = item["createdAt"]["S"]
            assert created <= position.created_at if descending else created >= position.created_at
    read = [key["id"]["S"] for params, _ in calls.named("BatchGetItem")
            for request in params["RequestItems"].values() for key in request["Keys"]]
    assert sorted(read) == sorted(want[20:40])  # the page's items, nothing else


def test_an_offset_reads_keys_not_items_before_it(aws: Provisioned, calls: Calls) -> None:
    tasks = seeded(aws, 60)
    calls.calls.clear()

    page = container().task_repository.list_for_team(TEAM, ListQuery(limit=5, offset=40))

    want = expected(tasks, None, True)[40:45]
    assert [t.id for t in page.tasks] == want
    read = [key["id"]["S"] for params, _ in calls.named("BatchGetItem")
            for request in params["RequestItems"].values() for key in request["Keys"]]
    assert sorted(read) == sorted(want)


def test_a_task_that_ends_moves_between_partitions_and_is_listed_once(aws: Provisioned) -> None:
    repository = container().task_repository
    task = Task(id="moving", teamId=TEAM, status=S.PENDING, createdAt=stamp(5), targetUrl=URL)
    repository.put_new(task)
    assert list_page({"status": "pending"})["tasks"] == ["moving"]

    claimed = repository.apply(task, lifecycle.claim(task, "tok", START))
    assert list_page({"status": "processing"})["tasks"] == ["moving"]
    assert list_page({"status": "pending"})["tasks"] == []
    repository.apply(claimed, lifecycle.finish(claimed, S.FAILED, START, "tok"))

    assert list_page({"status": "failed"})["tasks"] == ["moving"]
    assert list_page({"status": "processing"})["tasks"] == []
    assert list_page({})["tasks"] == ["moving"]


def test_an_index_entry_whose_item_is_gone_is_passed_over(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = seeded(aws, 9)
    want = expected(tasks, None, True)
    model: Any = container().task_model
    original = model.batch_get

    def one_expired_meanwhile(ids: list[str], **kwargs: Any) -> Iterator[Any]:
        """The item expired (TTL) between the index Query and the BatchGetItem."""
        return original([i for i in ids if i != want[1]], **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(model, "batch_get", one_expired_meanwhile)

    body = list_page({"limit": "3"})
    assert body["tasks"] == [want[0], want[2], want[3]]
    assert body["pagination"]["hasMore"] is True


# ---- through the handler: bad cursors are 400s and change nothing ---------------------------------

def list_event(key: str, params: dict[str, str]) -> dict[str, Any]:
    event = load_event("api_gateway_get_task.json")
    event["resource"] = event["requestContext"]["resourcePath"] = "/v1/tasks"
    event["path"], event["requestContext"]["path"] = "/v1/tasks", "/api/v1/tasks"
    event["pathParameters"] = None
    event["queryStringParameters"] = params or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
    set_header(event, "Authorization", f"Bearer {key}")
    return event


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = lambdas.app(event, context("ApiFunction"))
    return answer["statusCode"], json.loads(answer["body"])


def table_items(aws: Provisioned) -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=aws.env["TASKS_TABLE"], ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: item["id"]["S"])


def test_the_handler_pages_by_cursor(aws: Provisioned, counted_from_rows: None) -> None:
    tasks = seeded(aws, 12)
    key, _ = container().api_key_service.create(TEAM, name="lists")
    status, body = call(list_event(key, {"limit": "5", "status": "completed"}))
    assert status == 200 and body["pagination"] == {"total": 1, "limit": 5, "offset": 0, "hasMore": False}
    status, first = call(list_event(key, {"limit": "5"}))
    assert status == 200 and first["pagination"]["hasMore"] is True
    status, second = call(list_event(key, {"limit": "5", "cursor": first["pagination"]["nextCursor"]}))
    assert status == 200
    assert [t["id"] for t in first["tasks"] + second["tasks"]] == expected(tasks, None, True)[:10]
    assert second["pagination"]["offset"] == 0 and second["pagination"]["total"] == 12


BAD_CURSORS = [
    ({"cursor": "garbage"}, "cursor is not valid for this query"),
    ({"cursor": "eyJ2IjoxfQ"}, "cursor is not valid for this query"),  # {"v":1}
    ({"cursor": "<made for status=pending>", "status": "completed"}, "cursor is not valid for this query"),
    ({"cursor": "<made for status=pending>"}, "cursor is not valid for this query"),
    ({"cursor": "<made for status=pending>", "status": "pending", "sortOrder": "asc"},
     "cursor is not valid for this query"),
    ({"cursor": "<made for status=pending>", "status": "pending", "offset": "3"},
     "cursor and offset cannot be used together"),
]


def test_a_bad_cursor_is_a_400_and_changes_nothing(aws: Provisioned) -> None:
    tasks = seeded(aws, 12)
    key, _ = container().api_key_service.create(TEAM, name="lists")
    position = Position(stamp(2), "t-000")
    made = encode_cursor(position, ListQuery(status=S.PENDING))
    before = table_items(aws)
    for params, message in BAD_CURSORS:
        params = {k: made if v == "<made for status=pending>" else v for k, v in params.items()}

        status, body = call(list_event(key, params))

        assert (status, body) == (400, {"error": message}), params
        assert table_items(aws) == before
    status, body = call(list_event(key, {"cursor": made, "status": "pending"}))  # its own query: fine
    assert status == 200
    assert [t["id"] for t in body["tasks"]] == [t.id for t in sorted(tasks, key=Position.of, reverse=True)
                                                if t.status is S.PENDING and Position.of(t) < position]


# ---- the writes of a run never write the list index ---------------------------------------------

def raw(aws: Provisioned, task_id: str) -> dict[str, Any]:
    item: dict[str, Any] = aws.client("dynamodb").get_item(
        TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task_id}}, ConsistentRead=True)["Item"]
    return item


def test_claim_retry_progress_and_delivery_log_writes_leave_the_list_index_alone(aws: Provisioned) -> None:
    repository = container().task_repository
    table = tasks_table()
    task = Task(id=str(uuid.uuid4()), teamId=TEAM, status=S.PENDING, createdAt=stamp(0), updatedAt=stamp(0),
                targetUrl=URL, maxRetries=3, retryCount=0)
    repository.put_new(task)
    units = {}
    before = raw(aws, task.id)

    def measure(name: str) -> None:
        nonlocal before
        after = raw(aws, task.id)
        units[name] = write_units(table, before, after)
        before = after

    claimed = repository.apply(task, lifecycle.claim(task, "run-1", START))
    measure("claim")
    retried = repository.apply(claimed, lifecycle.back_off(claimed, "run-1", START, START, "HTTP 503"))
    measure("retry")
    claimed = repository.apply(retried, lifecycle.claim(retried, "run-2", START + timedelta(seconds=1)))
    measure("second claim")
    repository.report_progress(task.id, "run-2", 40, "working", stamp(9))
    measure("progress")
    DynamoNotificationLog(container().task_model).record(
        Notification(id="n-1", task_id=task.id, team_id=TEAM, kind="webhook", url=URL, status="processing",
                     sequence="1"), URL, "delivered", 1, None)
    measure("delivery log")
    repository.apply(claimed, lifecycle.finish(claimed, S.COMPLETED, START + timedelta(seconds=2), "run-2"))
    measure("finish")

    for name in ("claim", "retry", "second claim", "progress", "delivery log"):
        assert "byTeamPhase" not in units[name].indexes, (name, units[name])
    assert units["finish"].indexes["byTeamPhase"] == 2  # the move from #open to #completed
    assert raw(aws, task.id)["teamPhase"] == {"S": f"{TEAM}#completed"}
