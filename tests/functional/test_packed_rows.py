"""A task's body, args and result stored compressed (adapters/dynamo/packing.py) through the real
repository on moto: what the row holds, that every reader gets the values back (the repository and
the stream's images), that rows written plain before read as before, and what it saves in write
units (bench/capacity.py, today's indexes)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from functions.events import task_from_image
from taskhook.container import container
from taskhook.model.status import TaskStatus

from .conftest import Provisioned
from .test_capacity_items import run_task

# A realistic 1 KB JSON request body and 1 KB JSON answer (an order and its confirmation).
BODY = json.dumps({"order": {"id": "ord_8f3a2c", "customer": {"id": "cus_1029", "email": "ada@example.com"},
                             "lines": [{"sku": f"SKU-{i:04d}", "name": f"Widget {i}", "quantity": i % 3 + 1,
                                        "unitPrice": {"amount": 1999 + i, "currency": "GBP"}} for i in range(9)]}})
ANSWER = json.dumps({"confirmation": {"orderId": "ord_8f3a2c", "status": "accepted", "warehouse": "LHR-2",
                                      "lines": [{"sku": f"SKU-{i:04d}", "reserved": True, "eta": "2026-12-04"}
                                                for i in range(16)]}})


def _raw(aws: Provisioned, task_id: str) -> dict[str, Any]:
    item: dict[str, Any] = aws.client("dynamodb").get_item(
        TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": task_id}})["Item"]
    return item


def test_a_1kb_body_and_answer_are_stored_packed_and_read_back_by_the_repository(aws: Provisioned) -> None:
    assert 1000 <= len(BODY) <= 1100 and 1000 <= len(ANSWER) <= 1100
    run = run_task(aws, BODY, ANSWER)
    finished = run.items["finish"]
    assert "body" not in finished and "bodyZ" in finished and "resultZ" in finished and "result" not in finished
    task = container().task_service.repository.get(finished["id"]["S"])
    assert task is not None and task.body == BODY and task.result["body"] == ANSWER
    # Every row under 1 KB: one unit per write of the table, and the indexes' keys-only or small
    # entries (byTeamPhase put, activeDeadline in and out, byTeamPhase moved): 2, 2, 4. Plain, in the
    # old layout, this task cost 6, 10 and 13 (29 WCU); packed in the old layout 3, 5, 5.
    assert [u.table for u in run.units.values()] == [1, 1, 1]
    assert [u.total for u in run.units.values()] == [2, 2, 4]


def test_the_streams_images_give_the_same_task_as_the_repository(aws: Provisioned) -> None:
    run = run_task(aws, BODY, ANSWER)
    deserialize = TypeDeserializer().deserialize
    image = {k: deserialize(v) for k, v in run.items["finish"].items()}
    # as a Lambda event carries it: binary values as base64 text
    image = {k: base64.b64encode(v.value).decode() if hasattr(v, "value") else v for k, v in image.items()}
    from_stream = task_from_image(image)
    from_table = container().task_service.repository.get(image["id"])
    assert from_stream is not None and from_table is not None
    assert from_stream.model_dump() == from_table.model_dump()


def test_a_row_written_plain_before_packing_reads_as_before(aws: Provisioned) -> None:
    task_id = str(uuid.uuid4())
    aws.client("dynamodb").put_item(TableName=aws.env["TASKS_TABLE"], Item={
        "id": {"S": task_id}, "teamId": {"S": "team-old"}, "teamStatus": {"S": "team-old#completed"},
        "status": {"S": "completed"}, "createdAt": {"S": "2026-11-01T00:00:00.000Z"}, "body": {"S": BODY},
        "result": {"S": json.dumps({"statusCode": 200, "body": ANSWER})}, "targetUrl": {"S": "https://x.example"},
    })
    task = container().task_service.repository.get(task_id)
    assert task is not None and task.body == BODY and task.result == {"statusCode": 200, "body": ANSWER}
    assert task.status is TaskStatus.COMPLETED
