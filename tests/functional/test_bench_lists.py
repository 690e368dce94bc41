"""The `lists` bench scenario's helpers (bench/scenarios/lists.py): the seeded mix, the items it
writes straight into the table (they must be the repository's own rows: the list reads them as it
reads any task), and the read units it takes from the call log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.scenarios import lists
from taskhook.container import container
from taskhook.model.listing import ListQuery
from taskhook.model.retention import DEFAULT_RETENTION_DAYS
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

from .conftest import Provisioned

TEAM = "team-lists"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_mix_keeps_the_open_tasks_fixed_as_the_team_grows() -> None:
    small, large = lists.mix(1000), lists.mix(100_000)
    assert sum(small.values()) == 1000 and sum(large.values()) == 100_000
    assert small[lists.OPEN_STATUS] == large[lists.OPEN_STATUS] == lists.OPEN_TASKS
    assert large["failed"] == 4990 and large["cancelled"] == 1996 and large["timeout"] == 998
    assert lists.mix(50) == {lists.OPEN_STATUS: 50}
    grown = lists.added(small, lists.mix(10_000))
    assert sum(grown.values()) == 9000 and lists.OPEN_STATUS not in grown
    with pytest.raises(ValueError):
        lists.added(large, small)


def test_statuses_put_the_open_tasks_first_and_keep_the_counts() -> None:
    delta = lists.mix(1000)
    statuses = lists.statuses_for(delta, seed=1)
    assert statuses[:lists.OPEN_TASKS] == [lists.OPEN_STATUS] * lists.OPEN_TASKS
    assert lists.OPEN_STATUS not in statuses[lists.OPEN_TASKS:]
    assert {s: statuses.count(s) for s in set(statuses)} == delta
    assert statuses == lists.statuses_for(delta, seed=1)  # deterministic


def seeded_tasks(statuses: list[str]) -> list[Task]:
    return [Task(**lists.task_fields(TEAM, n, status, NOW - n * lists.SECOND, "http://127.0.0.1:9"))
            for n, status in enumerate(statuses)]


def test_seeded_items_are_the_repository_rows_and_list_like_them(aws: Provisioned) -> None:
    statuses = ["delayed", "completed", "failed", "completed", "cancelled", "timeout", "failed", "completed"]
    tasks = seeded_tasks(statuses)
    model = container().task_model
    client = aws.client("dynamodb")
    table = aws.env["TASKS_TABLE"]
    items = lists.items_for(model, tasks, DEFAULT_RETENTION_DAYS)
    assert lists.write_items(client, table, items, writers=2) == 1  # 8 items: one BatchWriteItem

    repository = container().task_service.repository
    reference = tasks[1].model_copy(update={"id": "written-by-put-new", "teamId": "other"})
    repository.put_new(reference)
    written = client.get_item(TableName=table, Key={"id": {"S": reference.id}})["Item"]
    seeded = client.get_item(TableName=table, Key={"id": {"S": tasks[1].id}})["Item"]
    assert set(seeded) - {"expiresAt"} == set(written)  # put_new leaves the TTL to the finishing write
    assert seeded["teamPhase"] == {"S": f"{TEAM}#completed"} and written["teamPhase"] == {"S": "other#completed"}
    same = ("id", "teamId", "teamPhase", "expiresAt")
    repository_item: dict[str, Any] = {k: v for k, v in written.items() if k not in same}
    assert repository_item == {k: v for k, v in seeded.items() if k not in same}
    assert int(seeded["expiresAt"]["N"]) > NOW.timestamp()

    page = repository.list_for_team(TEAM, ListQuery(limit=100))
    assert [t.id for t in page.tasks] == [t.id for t in tasks]  # newest first, every status
    assert repository.get(tasks[0].id) == tasks[0].model_copy(update={"expiresAt": None})
    failed = repository.list_for_team(TEAM, ListQuery(status=TaskStatus.FAILED, limit=100))
    assert [t.id for t in failed.tasks] == [tasks[2].id, tasks[6].id]
    delayed = repository.list_for_team(TEAM, ListQuery(status=TaskStatus.DELAYED, limit=100))
    assert [t.id for t in delayed.tasks] == [tasks[0].id]


def test_position_names_the_row_a_fraction_in_and_the_next_one() -> None:
    seeded = lists.Seeded(TEAM, NOW)
    seeded.rows = [(t.createdAt, t.id, t.status.value) for t in seeded_tasks(["completed"] * 10)]
    assert seeded.position(0.9) == (seeded.rows[9][0], seeded.rows[9][1], None)
    assert seeded.position(0.5) == (seeded.rows[5][0], seeded.rows[5][1], seeded.rows[6][1])


def test_read_units_are_the_api_reads_per_call() -> None:
    calls = {
        "dynamoUnits": {"api|TasksTable|byTeamPhase|read": 3.0, "api|TasksTable||read": 100.0,
                        "api|TeamStatsTable||read": 1.0, "api|TasksTable||write": 7.0,
                        "|TasksTable||read": 50.0},
        "calls": {"api|dynamodb|Query": 4, "api|dynamodb|BatchGetItem": 2, "api|dynamodb|GetItem": 2,
                  "api|sqs|SendMessage": 1, "executor|dynamodb|GetItem": 9},
    }
    assert lists.read_units(calls, 2) == {
        "rcuPerCall": 52.0,
        "rcuByTableIndex": {"TasksTable": 50.0, "TasksTable|byTeamPhase": 1.5, "TeamStatsTable": 0.5},
        "dynamoCallsPerCall": {"BatchGetItem": 1.0, "GetItem": 1.0, "Query": 2.0},
    }


def a_call(offset: int | None, keys: float, items: float = 50.0) -> dict[str, Any]:
    units = {"TasksTable": items, "TasksTable|byTeamPhase": keys, "TeamStatsTable": 0.5}
    return {"params": {"limit": 100, **({"offset": offset} if offset is not None else {})}, "repeats": 3,
            "p50Ms": 12.0, "maxMs": 15.0, "rows": 100, "total": 1000, "firstId": "t",
            "rcuPerCall": sum(units.values()), "rcuByTableIndex": units, "dynamoCallsPerCall": {"Query": 5}}


def test_the_report_shows_the_units_per_size_and_what_the_offsets_cost() -> None:
    from bench import report

    sizes = {str(n): {"tasks": n, "mix": lists.mix(n), "calls": {"first": a_call(None, 9.0),
                                                                 "offset5000": a_call(5000, 75.0)},
                      "seeding": {"added": n, "seedSeconds": 1.0, "itemsPerSecond": 900}}
             for n in (10_000, 100_000)}
    text = "\n".join(report._lists({"scenarios": {"lists": {"openTasks": 200, "page": 100, "repeats": 3,
                                                            "sizes": sizes}}}))
    assert "| first page | 59.5 | 59.5 | 12 | 12 |" in text
    assert "offset=5,000 at 100,000 tasks reads 75 RCU of index keys (+66 over the first page" in text
    assert "would read about 1,188 RCU of keys" in text  # 90,000 rows at 5,000 per 66 RCU
    assert report._lists({"scenarios": {}}) == []
