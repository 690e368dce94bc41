"""Dead-letter consumer Lambda: a task whose message SQS gave up on is marked failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from taskhook.adapters.sqs import task_id_of
from taskhook.container import container
from taskhook.dispatch.sweep import fail_dead_letter


def process_record(record: SQSRecord) -> bool:
    return fail_dead_letter(container().task_repository, task_id_of(record.body))


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event, process_record, processor, context)
