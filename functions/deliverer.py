"""Notification deliverer Lambda (the notifications FIFO queue).

One message is one notification. A failed attempt sets the message's visibility to the backoff
delay and reports it failed, so SQS redelivers it then; meanwhile its task's message group waits,
which keeps that task's notifications in order, and other tasks' groups go on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from taskhook.container import container
from taskhook.notify.rules import Notification

from .redelivery import RedeliverLater

logger = Logger(service="taskhook-deliverer")


def process_record(record: SQSRecord) -> str:
    notification = Notification.from_message(record.body)
    attempt = int(record.attributes.approximate_receive_count or 1)
    outcome = container().deliverer.deliver(notification, attempt)
    logger.info("notification %s (attempt %d): %s", notification.id, attempt, outcome.note)
    if not outcome.delete:
        container().sqs_messages.hold(record.event_source_arn, record.receipt_handle, outcome.redeliver_after)
        raise RedeliverLater(outcome.note)
    return outcome.note


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # Its constructor takes no such argument: without this, a batch whose every record failed (the
    # queue's batch size is 1) raises, a failed invocation, instead of answering batchItemFailures.
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event, process_record, processor, context)
