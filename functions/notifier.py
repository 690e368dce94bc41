"""Notifier Lambda (the Tasks table's stream, NEW_AND_OLD_IMAGES).

For each change of a task it
- dispatches a newly inserted task to its SQS lane (the stream is the outbox: no task is lost
  between the API's write and the queue);
- queues the customer's notifications for a status change (seed 000 `callback_url`, seed 002
  `onCompleteUrl`) on the notifications FIFO queue, where they are delivered and retried apart;
- pushes status, progress and message changes to WebSocket subscribers.
Writes that change none of those (delivery bookkeeping, dispatch marks) cause nothing. A failing
record is reported by its sequence number, so Lambda (or the local runner) retries from there and
never skips a record; the notification's deduplication id keeps a retried record from notifying twice.
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
from taskhook.live import live_change
from taskhook.notifications import notifications_for
from taskhook.scheduling import dispatch_for_new_task

from .events import task_from_image

logger = Logger(service="taskhook-notifier")


def process_record(record: DynamoDBRecord) -> None:
    if record.dynamodb is None or record.event_name is DynamoDBRecordEventName.REMOVE:
        return
    new = task_from_image(record.dynamodb.new_image)
    if new is None:
        return
    old = task_from_image(record.dynamodb.old_image)
    if record.event_name is DynamoDBRecordEventName.INSERT:
        dispatch = dispatch_for_new_task(new, utcnow())
        if dispatch is not None:
            composition.task_queue().send(dispatch)
    notifications = notifications_for(old, new, str(record.dynamodb.sequence_number))
    if notifications:
        composition.notification_queue().send(notifications)
    if live_change(old, new):
        composition.live_feed().publish(new)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event, process_record, processor, context)
