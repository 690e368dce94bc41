"""The floor bench scenario (bench/scenarios/floor.py) makes the calls a task makes, on a twin of the
tasks table, and each one does what a task's does: the put stores a pending row, the claim and the
end move it on under their conditions."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.scenarios import floor, lists
from taskhook.container import container
from taskhook.model.task import Task

from .conftest import Provisioned

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_floor_calls_run_a_row_through_a_task_s_writes_on_a_twin_of_the_tasks_table(aws: Provisioned) -> None:
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    source = aws.env["TASKS_TABLE"]
    delayed = Task(**lists.task_fields("team-floor", 0, lists.OPEN_STATUS, NOW, "http://127.0.0.1:9"))
    assert delayed.status == "delayed" and delayed.delayUntil
    container().task_service.repository.put_new(delayed)
    stored = dynamodb.get_item(TableName=source, Key={"id": {"S": delayed.id}})["Item"]
    row = floor.pending_row(stored)
    assert row["status"] == {"S": "pending"} and not floor.DELAY_ONLY & set(row)
    assert floor.DELAY_ONLY & set(stored)  # the delayed row had them

    table = floor.twin(dynamodb, source, "floor-twin")
    described, twin = (dynamodb.describe_table(TableName=name)["Table"] for name in (source, table))
    assert twin["KeySchema"] == described["KeySchema"]
    assert sorted(i["IndexName"] for i in twin["GlobalSecondaryIndexes"]) == sorted(
        i["IndexName"] for i in described["GlobalSecondaryIndexes"])
    assert twin["StreamSpecification"] == described["StreamSpecification"]

    queue = sqs.create_queue(QueueName="floor-queue")["QueueUrl"]
    calls = floor.calls_of(dynamodb, sqs, table, queue, row)
    assert list(calls) == list(floor.CALLS)
    for name in floor.CALLS:
        calls[name]("t-1")
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": "t-1"}})["Item"]
    assert item["status"] == {"S": "completed"}
    assert "claimToken" not in item and "deadlineAt" not in item
    assert int(item["version"]["N"]) == int(row["version"]["N"]) + 2
    assert item["result"]["M"]["statusCode"] == {"N": "200"}
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert dynamodb.get_item(TableName=source, Key={"id": {"S": "t-1"}}).get("Item") is None  # the twin only
