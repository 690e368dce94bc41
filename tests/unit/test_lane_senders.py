"""A create's message carries the task's row, and the executor's first delivery claims from that
copy (run/executor.py, CARRIED): a message is trusted as far as a row is. That holds only while
every function that may send to a lane may write the tasks table too; this guards it."""

from __future__ import annotations

from typing import Any

from infra.template import load_template

LANES = {"HighQueue", "NormalQueue", "LowQueue"}


def _refs(policies: list[Any], kind: str) -> set[str]:
    found = set()
    for policy in policies:
        if isinstance(policy, dict) and kind in policy:
            target = policy[kind].get("QueueName") or policy[kind].get("TableName")
            if isinstance(target, dict):
                found.add(str(target.get("Ref") or str(target.get("Fn::GetAtt", [""])[0]).split(".")[0]))
    return found


def test_every_function_that_sends_to_a_lane_may_write_the_tasks_table() -> None:
    functions = {name: resource["Properties"].get("Policies") or []
                 for name, resource in load_template()["Resources"].items()
                 if resource["Type"] == "AWS::Serverless::Function"}
    senders = {name for name, policies in functions.items() if _refs(policies, "SQSSendMessagePolicy") & LANES}
    writers = {name for name, policies in functions.items() if "TasksTable" in _refs(policies, "DynamoDBCrudPolicy")}
    assert len(senders) >= 3  # the API, the stream's outbox, the executors' put-backs, the sweep
    assert senders <= writers, sorted(senders - writers)
