"""Notifier Lambda (the Tasks table's stream, NEW_AND_OLD_IMAGES).

Today it dispatches every newly inserted task to its SQS lane (the stream is the outbox: no task
is lost between the API's write and the queue). A failing record is reported by its sequence
number, so Lambda (or the local runner) retries from there and never skips a record.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from taskhook import composition
from taskhook.clock import utcnow
from taskhook.scheduling import dispatch_for_new_task

from .events import task_from_image

logger = Logger(service="taskhook-notifier")


def process_record(record: DynamoDBRecord) -> None:
    if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
        return
    task = task_from_image(record.dynamodb.new_image)
    if task is None:
        return
    dispatch = dispatch_for_new_task(task, utcnow())
    if dispatch is not None:
        composition.task_queue().send(dispatch)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event, process_record, processor, context)
