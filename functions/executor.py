"""Executor Lambda (SQS lanes, batches of up to 10, partial batch failures).

Each record is one delivery of a task's message. The batch's records run concurrently, all of them
at once (a thread each: they wait on targets, not on the CPU): a record left waiting for a thread
is received but not claimed, and if the invocation died it would wait out the queue's whole
visibility timeout. A record whose message must come back later (a retry's backoff, a delayed
task not due yet) is reported as a failure, after its visibility has been set to exactly that
delay, so SQS redelivers it then.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from taskhook.adapters.sqs import task_id_of
from taskhook.container import container

from .redelivery import RedeliverLater

logger = Logger(service="taskhook-executor")
DEFAULT_TIME_LEFT = 300.0


def _time_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if remaining else DEFAULT_TIME_LEFT


def process_record(record: SQSRecord, context: Any) -> str:
    task_id = task_id_of(record.body)
    messages = container().sqs_messages

    def hold(seconds: float) -> None:
        messages.hold(record.event_source_arn, record.receipt_handle, seconds)

    outcome = container().executor.run(task_id, lambda: _time_left(context), hold)
    logger.info("task %s: %s", task_id, outcome.note or ("done" if outcome.delete else "again"))
    if not outcome.delete:
        hold(outcome.redeliver_after)
        raise RedeliverLater(outcome.note)
    return outcome.note


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # One thread per record of this invocation (the local runner runs several invocations in one
    # process, as Lambda runs them in several).
    with ThreadPoolExecutor(max_workers=max(1, len(event.get("Records") or ())),
                            thread_name_prefix="record") as threads:

        async def record_handler(record: SQSRecord) -> str:
            return await asyncio.get_running_loop().run_in_executor(threads, process_record, record, context)

        return async_process_partial_response(event, record_handler, processor, context)
