"""Executor Lambda (SQS lanes, batches of up to 10, partial batch failures).

Each record is one delivery of a task's message. The batch's records run concurrently, all of them
at once (a thread each: they wait on targets, not on the CPU): a record left waiting for a thread
is received but not claimed, and if the invocation died it would wait out the queue's whole
visibility timeout. A record whose message must come back later (a retry's backoff, a delayed
task not due yet) is reported as a failure, after its visibility has been set to exactly that
delay, so SQS redelivers it then. A record whose team is over its share (or its destination over
a limit) is put back: sent again as a new, delayed message, and this one deleted (reported as a
success), so that waiting for a share never counts towards the queue's maxReceiveCount. Put-backs
go out as they are decided (the ones decided within PUT_BACK_WINDOW of each other in one
SendMessageBatch), never held until the batch's slowest call has ended. A polling task's next poll
(run/poll.py) goes out the same way: a new message carrying its poll token, so polls never count
towards maxReceiveCount either.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from taskhook.adapters.sqs import Hold, PutBack, TaskMessage
from taskhook.container import container
from taskhook.model.task import Task

from .redelivery import RedeliverLater

logger = Logger(service="taskhook-executor")
T = TypeVar("T")
DEFAULT_TIME_LEFT = 300.0
PUT_BACK_WINDOW = 0.05  # seconds the first put-back waits for others of its invocation to share its send
HOLD_WINDOW = 0.05  # the same for visibility changes (a backoff's, an early delayed task's)
# A claimed run's own hold goes out only once this share of the unclaimed hold (which the batch's
# first call, hold_until_claimed, set) has passed since the batch started: a run over by then needs
# none, and almost every run is (issue 17: the holds of runs that outlasted 50 ms were 0.21 requests
# a task). The hold still goes out with half of that first hold left. RUN_HOLD_WINDOW overrides it.
RUN_HOLD_SHARE = 0.5
RUN_HOLD_WINDOW: float | None = None


def _time_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000.0 if remaining else DEFAULT_TIME_LEFT


class _Slot(Generic[T]):
    def __init__(self, entry: T) -> None:
        self.entry, self.ok, self.done = entry, False, threading.Event()


class Grouped(Generic[T]):
    """An invocation's SQS batch calls, made as they are decided: the first entry waits `window` for
    the others (a batch's records decide within milliseconds of each other), and those that came
    meanwhile go in the same call (`call(entries)` returns the indexes that failed); nothing waits for
    the batch's slowest record."""

    def __init__(self, call: Callable[[list[T]], list[int]], what: str, window: float = PUT_BACK_WINDOW,
                 not_before: float | None = None) -> None:
        # not_before (time.monotonic()): a group goes no earlier than this, rather than `window`
        # after its first entry
        self._call, self._what, self._window, self._not_before = call, what, window, not_before
        self._lock = threading.Lock()
        self._pending: list[_Slot[T]] = []

    def _add(self, entry: T) -> tuple[_Slot[T], bool]:
        slot = _Slot(entry)
        with self._lock:
            self._pending.append(slot)
            return slot, len(self._pending) == 1

    def send(self, entry: T) -> bool:
        """Send `entry` (with whatever others come within the window); False when it was not done."""
        slot, leads = self._add(entry)
        if leads:
            self._lead()
        slot.done.wait()
        return slot.ok

    def start(self, entry: T) -> Callable[[], None]:
        """Send `entry` with its group without waiting for it; returns `withdraw`, which takes the
        entry back if its group has not gone yet, else waits until it has (so that nothing sent after
        `withdraw` can overtake it)."""
        slot, leads = self._add(entry)
        if leads:
            threading.Thread(target=self._lead, name=f"{self._what} group", daemon=True).start()

        def withdraw() -> None:
            with self._lock:
                if slot in self._pending:
                    self._pending.remove(slot)
                    slot.done.set()
                    return
            slot.done.wait()

        return withdraw

    def _lead(self) -> None:
        time.sleep(self._window if self._not_before is None else max(0.0, self._not_before - time.monotonic()))
        with self._lock:
            group, self._pending = self._pending, []
        if not group:  # every entry was withdrawn
            return
        try:
            failed = set(self._call([slot.entry for slot in group]))
        except Exception:  # noqa: BLE001 - none done: each message stays for SQS to redeliver
            logger.exception("%s failed", self._what)
            failed = set(range(len(group)))
        for index, slot in enumerate(group):
            slot.ok = index not in failed
            slot.done.set()
        self.log([slot.entry for slot in group], len(failed))

    def log(self, entries: list[T], failed: int) -> None:
        logger.debug("%s: %d, %d failed", self._what, len(entries), failed)


class PutBackSender(Grouped[PutBack]):
    """An invocation's put-backs and next polls (new messages), a SendMessageBatch per group."""

    def __init__(self, window: float = PUT_BACK_WINDOW) -> None:
        super().__init__(lambda entries: container().sqs_messages.put_back(entries), "put-back send", window)

    def log(self, entries: list[PutBack], failed: int) -> None:
        polls = sum(1 for e in entries if e.poll)
        teams = sorted({e.team or "?" for e in entries if not e.poll})
        logger.info("put back %d task(s) of %s, sent %d next poll(s) (%d not sent)", len(entries) - polls,
                    ", ".join(teams) or "-", polls, failed)


class HoldSender(Grouped[Hold]):
    """An invocation's visibility changes (a claimed task held for its run, a task coming back after a
    backoff), a ChangeMessageVisibilityBatch per group: about one SQS request per ten tasks instead
    of one per task."""

    def __init__(self, window: float | None = None, not_before: float | None = None) -> None:
        super().__init__(lambda entries: container().sqs_messages.hold_many(entries), "visibility change",
                         HOLD_WINDOW if window is None else window, not_before)


class HoldFailed(Exception):
    """A visibility change was not made: the record fails, and SQS delivers its message again when
    its current visibility ends."""


def process_record(record: SQSRecord, context: Any, put_back: PutBackSender | None = None,
                   holds: HoldSender | None = None, run_holds: HoldSender | None = None) -> str:
    """Run one record. A put-back goes through `put_back` (the invocation's sender, which groups
    those decided at about the same time), or is sent alone when there is none; a put-back not
    sent leaves the message for SQS to deliver again. Visibility changes go through `holds` the
    same way, a claimed run's own hold through `run_holds` (its window: `run_hold_window()`)."""
    message = TaskMessage.parse(record.body)
    task_id, put_backs = message.task_id, message.put_backs
    messages = container().sqs_messages

    def hold(seconds: float) -> None:
        if holds is None:
            messages.hold(record.event_source_arn, record.receipt_handle, seconds)
        elif not holds.send(Hold(record.event_source_arn, record.receipt_handle, seconds)):
            raise HoldFailed(f"task {task_id}: its message's visibility was not changed")

    withdraw: list[Callable[[], None]] = []

    def hold_for_run(seconds: float) -> None:
        """The hold of a claimed task for its run: it goes out, with the batch's others, once
        `run_hold_window()` has passed since the batch started, and a run over before then needs
        none (the message is deleted). Not made, the message comes back when its current
        visibility ends and finds the claim held."""
        if run_holds is None:
            messages.hold(record.event_source_arn, record.receipt_handle, seconds)
        else:
            withdraw.append(run_holds.start(Hold(record.event_source_arn, record.receipt_handle, seconds,
                                                 decided_at=time.monotonic())))

    def send_poll(token: str, delay: int) -> bool:
        """A polling task's next poll: a new message (its receive count starts at zero, so polls never
        count towards maxReceiveCount), sent like a put-back; False when it was not sent."""
        entry = PutBack(record.event_source_arn, task_id, 0, delay, poll=token)
        return put_back.send(entry) if put_back is not None else not messages.put_back([entry])

    try:
        outcome = container().executor.run(task_id, lambda: _time_left(context), hold_for_run, put_backs,
                                           message.team, message.poll, send_poll, _sent_at(record),
                                           _carried(record, message))
    finally:
        for taken_back in withdraw:  # before any hold below, which must not be overtaken by this one
            taken_back()
    if outcome.put_back:
        entry = PutBack(record.event_source_arn, task_id, put_backs + 1, int(outcome.redeliver_after), outcome.team)
        sent = put_back.send(entry) if put_back is not None else not messages.put_back([entry])
        if not sent:
            _left_for_redelivery(record, entry)
            raise RedeliverLater("put-back not sent")
        return outcome.note
    logger.info("task %s: %s", task_id, outcome.note or ("done" if outcome.delete else "again"))
    if not outcome.delete:
        hold(outcome.redeliver_after)
        raise RedeliverLater(outcome.note)
    return outcome.note


def _sent_at(record: SQSRecord) -> datetime | None:
    """When the message was sent (SQS's SentTimestamp, epoch milliseconds); None if it does not say."""
    try:
        return datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _carried(record: SQSRecord, message: TaskMessage) -> Task | None:
    """The row a create's message carries, on its first delivery only: a later one comes after a run
    that did not end (a crash, a backoff), so the row has moved on and is read instead."""
    if (record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") != "1":  # (or unknown)
        return None
    return message.carried()


def _left_for_redelivery(record: SQSRecord, entry: PutBack) -> None:
    """A put-back not sent: this message stays (held for the put-back's delay); SQS delivers it again."""
    logger.warning("task %s: put-back not sent; left for redelivery", entry.task_id)
    try:
        container().sqs_messages.hold(record.event_source_arn, record.receipt_handle, entry.delay_seconds)
    except Exception as exc:  # noqa: BLE001 - it comes back after the queue's visibility timeout instead
        logger.warning("task %s: holding its message failed too (%s)", entry.task_id, type(exc).__name__)


def hold_until_claimed(event: dict[str, Any]) -> None:
    """Shorten the visibility of every record of the batch to about the claim margin before any is read:
    a record is claimed (and held for its run) within milliseconds, but if the invocation dies
    before that, its message would otherwise wait out the queue's whole visibility timeout (360 s)
    though nothing ran. One ChangeMessageVisibilityBatch per ten records; if it fails, the records
    keep the queue's visibility (nothing is lost, only later)."""
    by_queue: dict[str, list[str]] = {}
    for record in event.get("Records") or ():
        by_queue.setdefault(record["eventSourceARN"], []).append(record["receiptHandle"])
    for queue_arn, handles in by_queue.items():
        try:
            container().sqs_messages.hold_all(queue_arn, handles, container().executor.unclaimed_hold)
        except Exception as exc:  # noqa: BLE001 - the queue's own visibility still brings them back
            logger.warning("could not shorten the batch's visibility (%s)", type(exc).__name__)


def run_hold_window() -> float:
    """How long after the batch's first hold the claimed runs' own holds are sent (RUN_HOLD_SHARE of
    the unclaimed hold). Counted from the batch's start, not from a claim: a claim can come late (a
    task due soon is waited for, a new row re-read), and the hold must still land with half of the
    first hold left. Each run's hold is counted from when it was decided (`Hold.decided_at`), so a
    late send does not keep the message hidden longer."""
    return RUN_HOLD_WINDOW if RUN_HOLD_WINDOW is not None else container().executor.unclaimed_hold * RUN_HOLD_SHARE


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    hold_until_claimed(event)
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    put_back, holds = PutBackSender(), HoldSender()
    run_holds = HoldSender(not_before=started + run_hold_window())
    # One thread per record of this invocation (the local runner runs several invocations in one
    # process, as Lambda runs them in several).
    with ThreadPoolExecutor(max_workers=max(1, len(event.get("Records") or ())),
                            thread_name_prefix="record") as threads:

        async def record_handler(record: SQSRecord) -> str:
            return await asyncio.get_running_loop().run_in_executor(threads, process_record, record, context,
                                                                    put_back, holds, run_holds)

        return async_process_partial_response(event, record_handler, processor, context)
