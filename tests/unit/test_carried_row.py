"""A create's message carries the row it writes (run/executor.py, CARRIED): its first delivery claims
the task from that copy without reading the row, on condition that the row is still at its first
version. Any write since (a cancel, another run's claim, a retry), or a row not written yet, makes
that claim fail, and the delivery then reads the row and decides as any other does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskhook.model.lifecycle import cancel, claim
from taskhook.model.outcome import Outcome
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.unit.test_execution import NOW, TASK_ID, Harness, answer, failure, make_task

S = TaskStatus


class CountingHarness(Harness):
    def __init__(self, *answers: Any) -> None:
        super().__init__(*answers)
        self.reads: list[str] = []
        get = self.repo.get

        def counted(task_id: str) -> Task | None:
            self.reads.append(task_id)
            return get(task_id)

        self.repo.get = counted  # type: ignore[method-assign]

    def deliver(self, carried: Task | None, sent_ago: float = 0.1) -> Outcome:
        return self.executor.run(TASK_ID, lambda: 300.0, self.holds.append, carried=carried,
                                 sent_at=self.time.now - timedelta(seconds=sent_ago))


def test_a_first_delivery_claims_from_the_carried_row_without_reading_it() -> None:
    h = CountingHarness(answer(200))
    carried = h.add()

    assert h.deliver(carried) == Outcome(delete=True, note="completed")
    assert h.reads == []
    assert h.call.count == 1 and h.stored().status is S.COMPLETED and h.stored().retryCount == 0
    assert h.repo.moves == [(S.PENDING, S.PROCESSING), (S.PROCESSING, S.COMPLETED)]


def test_a_carried_row_that_was_cancelled_since_is_not_run() -> None:
    h = CountingHarness(answer(200))
    carried = h.add()
    h.repo.apply(carried, cancel(NOW))

    outcome = h.deliver(carried)

    assert outcome.delete and h.call.count == 0 and h.reads == [TASK_ID]
    assert h.stored().status is S.CANCELLED


def test_a_carried_row_another_run_claimed_since_is_left_to_that_run() -> None:
    h = CountingHarness(answer(200))
    carried = h.add()
    h.repo.apply(carried, claim(carried, "other-run", NOW))

    outcome = h.deliver(carried)

    assert not outcome.delete and outcome.redeliver_after > 0 and "claimed by another run" in outcome.note
    assert h.call.count == 0 and h.stored().claimToken == "other-run"


def test_a_carried_row_whose_retry_is_backing_off_waits_for_the_retry_s_time() -> None:
    """The first run failed and set a backoff (pending again, as the carried copy is): only the
    version tells them apart, and the claim from the copy must not skip the backoff."""
    h = CountingHarness(failure("HTTP 503", retry_after=10.0), answer(200))
    carried = h.add(maxRetries=3)
    assert not h.deliver(carried).delete  # a first run, from the copy: the retry is set
    assert h.stored().status is S.PENDING and h.stored().retryAt and h.call.count == 1

    outcome = h.deliver(carried)  # the copy again (a duplicate message of the create)

    assert not outcome.delete and outcome.redeliver_after > 5 and h.call.count == 1 and "backing off" in outcome.note


def test_a_carried_row_not_written_yet_is_waited_for_as_any_young_message_s() -> None:
    h = CountingHarness(answer(200))
    carried = make_task()
    h.time.on_sleep = lambda: h.repo.put_new(carried) if h.repo._rows.get(TASK_ID) is None else None

    assert h.deliver(carried) == Outcome(delete=True, note="completed")
    assert h.time.sleeps and h.call.count == 1 and h.reads[0] == TASK_ID


def test_a_row_carried_for_another_task_is_ignored() -> None:
    h = CountingHarness(answer(200))
    h.add()
    other = make_task(id="task-2")

    assert h.deliver(other) == Outcome(delete=True, note="completed")
    assert h.reads == [TASK_ID] and h.call.count == 1


def test_only_a_first_delivery_known_to_be_one_uses_the_carried_row() -> None:
    """SQS's ApproximateReceiveCount says which delivery it is; a record without it (a hand-built
    event, a client that did not ask for it) reads the row rather than failing (a review found a
    KeyError there)."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from functions.executor import _carried
    from taskhook.adapters.sqs import TaskMessage, task_message

    task = make_task()
    body = task_message(task.id, row=task)
    record = {"messageId": "m", "receiptHandle": "r", "body": body, "eventSourceARN": "arn:aws:sqs:q"}
    message = TaskMessage.parse(body)
    assert _carried(SQSRecord({**record, "attributes": {"ApproximateReceiveCount": "1"}}), message) == task
    assert _carried(SQSRecord({**record, "attributes": {"ApproximateReceiveCount": "2"}}), message) is None
    assert _carried(SQSRecord({**record, "attributes": {}}), message) is None
    assert _carried(SQSRecord(record), message) is None
