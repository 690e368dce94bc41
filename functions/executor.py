"""Executor Lambda (SQS lanes, batches of up to 10, partial batch failures).

Each record is one delivery of a task's message. The batch's records run concurrently, all of them
at once (a thread each: they wait on targets, not on the CPU): a record left waiting for a thread
is received but not claimed, and if the invocation died it would wait out the queue's whole
visibility timeout. A record whose message must come back later (a retry's backoff, a delayed
task not due yet) is reported as a failure, after its visibility has been set to exactly that
delay, so SQS redelivers it then. A record whose team is over its share (or its destination over
a limit) is put back: sent again as a new, delayed message, and this one deleted (reported as a
success), so that waiting for a share never counts towards the queue's maxReceiveCount.
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

from taskhook.adapters.sqs import PutBack, put_backs_of, task_id_of, team_of
from taskhook.container import container

from .redelivery import RedeliverLater

logger = Logger(service="taskhook-executor")
DEFAULT_TIME_LEFT = 300.0


def _time_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if remaining else DEFAULT_TIME_LEFT


def process_record(record: SQSRecord, context: Any, put_back: list[tuple[SQSRecord, PutBack]] | None = None) -> str:
    """Run one record. A put-back is added to `put_back` (the invocation sends them together,
    after its records ran), or sent at once when there is no such list."""
    task_id = task_id_of(record.body)
    put_backs = put_backs_of(record.body)
    messages = container().sqs_messages

    def hold(seconds: float) -> None:
        messages.hold(record.event_source_arn, record.receipt_handle, seconds)

    outcome = container().executor.run(task_id, lambda: _time_left(context), hold, put_backs, team_of(record.body))
    if outcome.put_back:
        entry = PutBack(record.event_source_arn, task_id, put_backs + 1, int(outcome.redeliver_after), outcome.team)
        if put_back is not None:
            put_back.append((record, entry))
        elif messages.put_back([entry]):
            _left_for_redelivery(record, entry)
            raise RedeliverLater("put-back not sent")
        return outcome.note
    logger.info("task %s: %s", task_id, outcome.note or ("done" if outcome.delete else "again"))
    if not outcome.delete:
        hold(outcome.redeliver_after)
        raise RedeliverLater(outcome.note)
    return outcome.note


def _left_for_redelivery(record: SQSRecord, entry: PutBack) -> None:
    """A put-back not sent: this message stays (held for the put-back's delay); SQS delivers it again."""
    logger.warning("task %s: put-back not sent; left for redelivery", entry.task_id)
    try:
        container().sqs_messages.hold(record.event_source_arn, record.receipt_handle, entry.delay_seconds)
    except Exception as exc:  # noqa: BLE001 - it comes back after the queue's visibility timeout instead
        logger.warning("task %s: holding its message failed too (%s)", entry.task_id, type(exc).__name__)


def _send_put_backs(put_back: list[tuple[SQSRecord, PutBack]], response: dict[str, Any]) -> None:
    """Send the invocation's put-backs, ten to a call; a record whose put-back was not sent is
    reported as failed, so its message stays instead of being deleted."""
    if not put_back:
        return
    failed = container().sqs_messages.put_back([entry for _, entry in put_back])
    for index in failed:
        record, entry = put_back[index]
        _left_for_redelivery(record, entry)
        response.setdefault("batchItemFailures", []).append({"itemIdentifier": record.message_id})
    teams = sorted({entry.team or "?" for _, entry in put_back})
    logger.info("put back %d task(s) of %s (%d not sent)", len(put_back), ", ".join(teams), len(failed))


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    put_back: list[tuple[SQSRecord, PutBack]] = []
    # One thread per record of this invocation (the local runner runs several invocations in one
    # process, as Lambda runs them in several).
    with ThreadPoolExecutor(max_workers=max(1, len(event.get("Records") or ())),
                            thread_name_prefix="record") as threads:

        async def record_handler(record: SQSRecord) -> str:
            return await asyncio.get_running_loop().run_in_executor(threads, process_record, record, context,
                                                                    put_back)

        response = async_process_partial_response(event, record_handler, processor, context)
    _send_put_backs(put_back, response)
    return response
