"""Counters, usage and expiry through the local stack, as an operator and a client see them: the
stream keeps the team's counts by status and its usage; the runner's expiry (the emulator's stand-in
for DynamoDB's TTL) deletes the finished tasks once their retention has passed, and the counts follow."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.targets import TargetServer

from .conftest import EXTERNAL_EMULATOR, FAR_FUTURE, Client, Stack


def counts(stack: Stack, team: str) -> dict[str, int]:
    out = json.loads(stack.cli("stats", "show", "--team", team).stdout)
    return {status: n for status, n in out["counts"].items() if n}


def counts_become(stack: Stack, team: str, expected: dict[str, int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := counts(stack, team)) != expected:
        assert time.monotonic() < deadline, f"counts {seen}, expected {expected}"
        time.sleep(0.5)


def test_counts_and_usage_follow_creates_runs_cancels_and_expiry(stack: Stack, target: TargetServer,
                                                                 team: Client) -> None:
    finished = [team.create_ok({"targetUrl": f"{target.base}/ok?n={n}", "body": "12345"}) for n in range(2)]
    delayed = [team.create_ok({"targetUrl": f"{target.base}/later", "delayUntil": FAR_FUTURE}) for _ in range(2)]
    assert team.cancel(delayed[0]["id"]).status_code == 200
    for task in finished:
        team.wait_until(task["id"], lambda t: t["status"] == "completed")
    counts_become(stack, team.team, {"completed": 2, "cancelled": 1, "delayed": 1})

    today = datetime.now(UTC).date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    usage: dict[str, Any] = team.request("GET", "/v1/usage", params=period).json()["usage"]
    assert [d["date"] for d in usage["days"]] == [period["from"], period["to"]]
    assert (usage["totals"]["tasksCreated"], usage["totals"]["attempts"]) == (4, 2)
    assert usage["totals"]["bytesStored"] >= 2 * len("12345")
    bad = team.request("GET", "/v1/usage", params={"from": "2026-02-30"})
    assert (bad.status_code, bad.json()) == (400, {"error": "from must be a date YYYY-MM-DD"})

    # 31 days on (the default retention is 30): the finished tasks expire, the delayed one stays.
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    expired = stack.cli("retention", "expire-local", "--team", team.team, "--as-of", later).stdout
    assert json.loads(expired) == {"expired": 3}
    counts_become(stack, team.team, {"delayed": 1})
    assert team.get(finished[0]["id"]).status_code == 404
    assert team.task(delayed[1]["id"])["status"] == "delayed"


def test_the_runner_deletes_a_task_once_its_expiry_has_passed(stack: Stack, target: TargetServer,
                                                               team: Client) -> None:
    """What DynamoDB's TTL does on AWS, the runner does here (every 2 s in these tests): in the
    stack's own emulator's process, or by a Scan on LocalStack. Only the task whose `expiresAt`
    has passed goes, and the counts follow its REMOVE record."""
    import boto3

    done = [team.create_ok({"targetUrl": f"{target.base}/ok?n={n}"}) for n in range(2)]
    for task in done:
        team.wait_until(task["id"], lambda t: t["status"] == "completed")
    counts_become(stack, team.team, {"completed": 2})
    env = stack.state["env"]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    kept = ddb.get_item(TableName=env["TASKS_TABLE"], Key={"id": {"S": done[1]["id"]}})["Item"]["expiresAt"]
    assert int(kept["N"]) > time.time() + 29 * 86_400  # the default retention: 30 days after it finished
    # A minute ago (TTL on AWS ignores values more than five years old)
    ddb.update_item(TableName=env["TASKS_TABLE"], Key={"id": {"S": done[0]["id"]}},
                    UpdateExpression="SET expiresAt = :past",
                    ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}})
    deadline = time.monotonic() + 30
    while team.get(done[0]["id"]).status_code != 404:
        assert time.monotonic() < deadline, "the runner did not delete the expired task"
        time.sleep(0.5)
    counts_become(stack, team.team, {"completed": 1})
    assert team.task(done[1]["id"])["status"] == "completed"
    # Which way the runner expired it: in the stack's own emulator's process, or by a Scan on LocalStack.
    runner = json.loads((stack.state_dir / "stack.json").read_text())["pids"]["runner"]
    environ = dict(entry.split("=", 1) for entry in
                   Path(f"/proc/{runner}/environ").read_text().split("\0") if "=" in entry)
    if EXTERNAL_EMULATOR:
        assert "TASKHOOK_EMULATOR_CONTROL" not in environ
    else:
        assert environ["TASKHOOK_EMULATOR_CONTROL"] == f"{env['AWS_ENDPOINT_URL']}/_taskhook/"
