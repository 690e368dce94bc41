"""Stream dispatcher Lambda (the Tasks table's stream, NEW_AND_OLD_IMAGES; logical id NotifierFunction,
kept so that a deployed stack keeps its stream mapping and position).

For each batch of task changes it dispatches new tasks to their SQS lanes (the stream is the
outbox: no task is lost between the API's write and the queue), queues the customers'
notifications, pushes live changes to WebSocket subscribers, deletes an expired task's S3 objects and
keeps each team's counters and usage: `taskhook.dispatch.stream`, in a few calls per batch.
Changes whose effects failed are reported by sequence number
(ReportBatchItemFailures), so Lambda (or the local runner) retries from the earliest of them.

Powertools' BatchProcessor runs a handler per record; the work here is batched across records,
so the handler builds the partial-failure response itself (the same `batchItemFailures` shape).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from taskhook.container import container
from taskhook.model.change import Change

from .events import task_from_image

logger = Logger(service="taskhook-dispatcher")


def change_of(record: DynamoDBRecord) -> Change | None:
    if record.dynamodb is None:
        return None
    if record.event_name is DynamoDBRecordEventName.REMOVE:  # TTL's delete (or the local expiry's)
        gone = task_from_image(record.dynamodb.old_image)
        return Change(str(record.dynamodb.sequence_number), gone, gone, removed=True) if gone else None
    new = task_from_image(record.dynamodb.new_image)
    if new is None:
        return None
    return Change(str(record.dynamodb.sequence_number), task_from_image(record.dynamodb.old_image), new,
                  inserted=record.event_name is DynamoDBRecordEventName.INSERT)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    changes = [c for c in map(change_of, DynamoDBStreamEvent(event).records) if c is not None]
    retry = container().change_feed.handle(changes)
    if retry:
        logger.warning("%d of %d changes to retry, from sequence %s", len(retry), len(changes), retry[0])
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in retry]}
