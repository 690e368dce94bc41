"""A tasks table of the old layout (byTeam and byTeamStatus, both ALL; items with `teamStatus`, no
`teamPhase`) upgraded in place as docs/upgrading.md says (moto): the template's TasksIndexStage
1, 2, 3, one GSI change per stack update as CloudFormation allows, and `taskhook upgrade-tasks`
(the backfill) after stage 1; then every task is listed through the new code with every filter.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from bench.capacity import tasks_table_properties
from infra import cli
from infra.local_stack import upgrade_restored_tasks
from taskhook.container import container
from taskhook.intake.listing import parse_list_query
from taskhook.model import lifecycle
from taskhook.model.clock import parse_iso
from taskhook.model.listing import Position
from taskhook.model.plan import TeamPlan
from taskhook.model.retention import DEFAULT_RETENTION_DAYS, expires_at
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task

from .conftest import Provisioned


@pytest.fixture(autouse=True)
def no_local_stack(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points itself at a running `make run` when it finds one: here it must not."""
    monkeypatch.setenv("TASKHOOK_STATE_DIR", str(tmp_path))

S = TaskStatus
TEAMS = ("team-a", "team-b")
URL = "https://api.example.com/webhook"

# The tasks table as template.yaml declared it before byTeamPhase (the layout of every stack
# deployed until then).
OLD_ATTRIBUTES = ["id", "teamId", "teamStatus", "createdAt", "delayedShard", "dueAt", "activeShard", "deadlineAt"]


def _gsi(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                          {"AttributeName": range_key, "KeyType": "RANGE"}]}


OLD_GSIS = [_gsi("byTeam", "teamId", "createdAt"), _gsi("byTeamStatus", "teamStatus", "createdAt"),
            _gsi("delayedDue", "delayedShard", "dueAt"), _gsi("activeDeadline", "activeShard", "deadlineAt")]


def create_old_table(aws: Provisioned) -> str:
    ddb = aws.client("dynamodb")
    name = aws.env["TASKS_TABLE"]
    ddb.delete_table(TableName=name)
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in OLD_ATTRIBUTES],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], GlobalSecondaryIndexes=OLD_GSIS,
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return name


def old_item(task: Task) -> dict[str, Any]:
    """The item the old code wrote: the task's fields, `teamStatus`, the sparse index keys."""
    item: dict[str, Any] = {k: {"S": v} if isinstance(v, str) else {"N": str(v)}
                            for k, v in task.model_dump(mode="json", exclude_none=True).items()
                            if isinstance(v, str | int) and not isinstance(v, bool)}
    item["teamStatus"] = {"S": f"{task.teamId}#{task.status.value}"}
    if task.status is S.DELAYED:
        item |= {"delayedShard": {"S": "delayed"}, "dueAt": {"S": task.delayUntil}}
    return item


def old_tasks() -> list[Task]:
    tasks = []
    for n in range(23):
        status = list(TaskStatus)[n % len(TaskStatus)]
        # every fourth in one millisecond (ties), the others over three days
        created = "2026-11-01T08:00:00.000Z" if n % 4 == 0 else f"2026-11-0{1 + n % 3}T09:00:{n:02d}.000Z"
        tasks.append(Task(id=f"old-{n:03d}", teamId=TEAMS[n % 2], status=status, createdAt=created, targetUrl=URL,
                          version=1 + n % 3, delayUntil="2099-01-01T00:00:00.000Z" if status is S.DELAYED else None))
    return tasks


def index_names(aws: Provisioned) -> set[str]:
    described = aws.client("dynamodb").describe_table(TableName=aws.env["TASKS_TABLE"])["Table"]
    return {g["IndexName"] for g in described.get("GlobalSecondaryIndexes", [])}


def stage_update(aws: Provisioned, stage: str) -> None:
    """What CloudFormation does for a stack update to `stage`: the one GSI change the template's
    resolved indexes differ by (it refuses more than one per update), with its attributes."""
    props = tasks_table_properties({"TasksIndexStage": stage})
    wanted = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
    have = index_names(aws)
    added, removed = set(wanted) - have, have - set(wanted)
    assert len(added) + len(removed) == 1, (stage, added, removed)
    change = ({"Create": wanted[added.pop()]} if added else {"Delete": {"IndexName": removed.pop()}})
    aws.client("dynamodb").update_table(TableName=aws.env["TASKS_TABLE"],
                                        AttributeDefinitions=props["AttributeDefinitions"],
                                        GlobalSecondaryIndexUpdates=[change])


def listed(team: str, params: dict[str, str]) -> tuple[list[str], int]:
    query = parse_list_query(params)
    page, total = container().task_service.list(team, query)
    return [t.id for t in page.tasks], total


def expected(tasks: list[Task], team: str, status: TaskStatus | None) -> list[str]:
    rows = [t for t in tasks if t.teamId == team and (status is None or t.status is status)]
    return [t.id for t in sorted(rows, key=Position.of, reverse=True)]


def run_cli(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(args)) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_stages_change_one_index_each_from_the_old_layout() -> None:
    old = {g["IndexName"]: g["KeySchema"] for g in OLD_GSIS}
    stages = {s: {g["IndexName"]: g["KeySchema"] for g in tasks_table_properties({"TasksIndexStage": s})
                  ["GlobalSecondaryIndexes"]} for s in ("1", "2", "3")}
    assert stages["1"] == {**old, "byTeamPhase": stages["3"]["byTeamPhase"]}
    assert set(stages["1"]) - set(stages["2"]) == {"byTeamStatus"} and set(stages["2"]) <= set(stages["1"])
    assert set(stages["2"]) - set(stages["3"]) == {"byTeam"} and set(stages["3"]) <= set(stages["2"])
    assert tasks_table_properties() == tasks_table_properties({"TasksIndexStage": "3"})  # the default: the end


def test_an_old_table_upgrades_in_place_and_lists_every_task(aws: Provisioned, counted_from_rows: None) -> None:
    ddb = aws.client("dynamodb")
    table = create_old_table(aws)
    tasks = old_tasks()
    for task in tasks:
        ddb.put_item(TableName=table, Item=old_item(task))

    stage_update(aws, "1")  # the new code is deployed with this update
    assert index_names(aws) == {"byTeam", "byTeamStatus", "byTeamPhase", "delayedDue", "activeDeadline"}
    assert listed("team-a", {})[0] == []  # not yet backfilled: the new index holds none of the old items

    # The backfill, stopped after its first page and resumed from what that page printed.
    first = next(container().team_phase_backfill.pages(page_size=5))
    assert first.updated == 5 and first.resume is not None
    lines = run_cli("upgrade-tasks", "--page-size", "5", "--resume", json.dumps(first.resume))
    assert lines[-1] == {"done": True, "scanned": len(tasks) - 5, "updated": len(tasks) - 5, "skipped": 0}
    assert all(line["resume"] for line in lines[:-2])
    for task in tasks:
        item = ddb.get_item(TableName=table, Key={"id": {"S": task.id}})["Item"]
        phase = task.status.value if task.status in TERMINAL else "open"
        assert item["teamPhase"] == {"S": f"{task.teamId}#{phase}"}
        assert "teamStatus" not in item
        assert item.get("version") == {"N": str(task.version)}  # bookkeeping: the version stays
    assert run_cli("upgrade-tasks")[-1] == {"done": True, "scanned": len(tasks), "updated": 0, "skipped": 0}

    for stage in ("2", "3"):
        for team in TEAMS:
            for status in (None, *TaskStatus):
                params = {"status": status.value} if status else {}
                want = expected(tasks, team, status)
                assert listed(team, params) == (want, len(want)), (stage, team, status)
        stage_update(aws, stage)
    assert index_names(aws) == {g["IndexName"] for g in tasks_table_properties()["GlobalSecondaryIndexes"]}
    assert listed("team-b", {"limit": "100"})[0] == expected(tasks, "team-b", None)


def test_the_backfill_leaves_an_item_the_new_code_wrote_meanwhile(aws: Provisioned) -> None:
    ddb = aws.client("dynamodb")
    table = create_old_table(aws)
    stage_update(aws, "1")
    task = Task(id="raced", teamId="team-a", status=S.PENDING, createdAt="2026-11-01T08:00:00.000Z", targetUrl=URL)
    ddb.put_item(TableName=table, Item=old_item(task))
    scanned = ddb.get_item(TableName=table, Key={"id": {"S": task.id}})["Item"]
    # The new code cancels it after the backfill's Scan read it as pending: teamPhase is #cancelled.
    container().task_repository.apply(task, lifecycle.cancel(parse_iso("2026-11-01T08:00:01.000Z")))

    assert container().team_phase_backfill.upgrade(scanned) is True  # only teamStatus was left to drop
    item = ddb.get_item(TableName=table, Key={"id": {"S": task.id}})["Item"]
    assert item["teamPhase"] == {"S": "team-a#cancelled"} and "teamStatus" not in item
    assert container().team_phase_backfill.upgrade(scanned) is False  # nothing left to do

    ddb.delete_item(TableName=table, Key={"id": {"S": task.id}})
    assert container().team_phase_backfill.upgrade(scanned) is False  # gone: not created again
    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": task.id}})


def test_the_local_stack_upgrades_items_restored_from_an_older_snapshot(
        aws: Provisioned, counted_from_rows: None) -> None:
    """`make run` keeps items across restarts (infra/snapshot.py) and provisions the tables anew:
    items saved by the old version come back into the new table without `teamPhase`."""
    ddb = aws.client("dynamodb")
    tasks = [t for t in old_tasks() if t.teamId == "team-a"]
    for task in tasks:  # as snapshot.restore_data puts them back: the saved attributes as they were
        ddb.put_item(TableName=aws.env["TASKS_TABLE"], Item=old_item(task))
    assert listed("team-a", {})[0] == []

    assert upgrade_restored_tasks() == len(tasks)

    assert listed("team-a", {}) == (expected(tasks, "team-a", None), len(tasks))
    assert upgrade_restored_tasks() == 0


@pytest.mark.parametrize("resume", ["not json", "[1"])
def test_a_bad_resume_value_is_refused(aws: Provisioned, resume: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["upgrade-tasks", "--resume", resume]) == 2
    assert "--resume" in capsys.readouterr().err


def test_the_upgrade_gives_old_finished_tasks_their_expiry_and_every_team_its_counts(aws: Provisioned) -> None:
    """Issue 15.6: old items backfilled for TTL (a finished task without `expiresAt` gets its
    completion plus its team's retention) and for the counters (TeamStats is new: `stats recount
    --all` counts every team's rows in one Scan), so that old tasks expire and the list's total
    counts them, as the new ones."""
    ddb = aws.client("dynamodb")
    table = create_old_table(aws)
    stage_update(aws, "1")
    done = "2026-11-02T10:00:00.000Z"
    tasks = [t.model_copy(update={"completedAt": done}) if t.status in TERMINAL else t for t in old_tasks()]
    for task in tasks:
        ddb.put_item(TableName=table, Item=old_item(task))
    container().plan_store.save("team-b", TeamPlan(retention_days=90))

    assert run_cli("upgrade-tasks")[-1] == {"done": True, "scanned": len(tasks), "updated": len(tasks), "skipped": 0}
    for task in tasks:
        item = ddb.get_item(TableName=table, Key={"id": {"S": task.id}})["Item"]
        if task.status in TERMINAL:
            days = 90 if task.teamId == "team-b" else DEFAULT_RETENTION_DAYS
            assert item["expiresAt"] == {"N": str(expires_at(done, days))}, task.id
        else:
            assert "expiresAt" not in item, task.id
    assert run_cli("upgrade-tasks")[-1]["updated"] == 0  # idempotent

    assert container().task_counts.total("team-a", None) == 0  # the counters know nothing of old tasks yet
    assert run_cli("stats", "recount", "--all") == [{"teams": 2, "tasks": len(tasks)}]
    for team in TEAMS:
        for status in (None, *TaskStatus):
            want = len([t for t in tasks if t.teamId == team and (status is None or t.status is status)])
            assert container().task_counts.total(team, status) == want, (team, status)
            assert listed(team, {"status": status.value} if status else {})[1] == want
