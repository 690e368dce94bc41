"""Running one delivery of a task's queue message: claim, call, record, decide what SQS does next.

At-least-once delivery from SQS, at-most-once transitions in DynamoDB: every move below is one
conditional write, and a run finishes a task only while it still holds the claim it made, so a
task is finished once even when two workers (a crashed one and its successor) ran it.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from taskhook.model import lifecycle
from taskhook.model.attempt import Attempt, result_document
from taskhook.model.callbacks import CALLBACK_HEADER, callback_url, hash_secret, new_secret
from taskhook.model.clock import parse_iso, utcnow
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import TaskChanges, Transition
from taskhook.model.limits import INLINE_BODY_LIMIT
from taskhook.model.outcome import Outcome
from taskhook.model.polling import PollFailure, PollSpec
from taskhook.model.retry import RetryPolicy
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import FUNCTION_KIND, Task
from taskhook.ports import BodyStore, TaskRepository
from taskhook.run.endings import end
from taskhook.run.functions.runner import FunctionRunner
from taskhook.run.poll import Poller, SendPoll
from taskhook.run.shares import Admission, Refusal, Shares, put_back_delay

# A delayed task's message may arrive this early (SQS delays are whole seconds); we wait it out.
EARLY_WAIT_LIMIT = 1.5
# The API sends a new task's message before it writes the row (intake/new_tasks.py): a message this
# young whose row is missing waits for it (re-read in hand, the usual race, then again ROW_WAIT
# later); older, the create that sent it is over (the API's invocations end within 30 s) and the row
# never came (the client got no 201): the message is dropped.
NEW_ROW_PATIENCE = 60.0
ROW_REREADS = (0.02, 0.05, 0.1, 0.2)
ROW_WAIT = 10.0
# CARRIED: a create's message carries the row as the create writes it (intake/new_tasks.py), so the
# first delivery claims the task without reading it first. The claim then also needs the row to be
# at its first version: any write since (a cancel, another run's claim, a retry, the sweep's mark)
# makes it fail, and the row is read and decided on as for any message. So is a row not written yet.
FIRST_VERSION = 1


class _ReadTheRow(Exception):
    """The row may not be what the message carries: read it and decide again, with the slots the
    carried decision took (`admission`: a rate limit's token is not given back, so it must not be
    taken twice)."""

    def __init__(self, admission: Admission | None = None) -> None:
        super().__init__()
        self.admission = admission


Caller = Callable[[Task, float], Attempt]
NO_PUBLIC_URL = ("waitForCallback needs the API's public URL (TASKHOOK_PUBLIC_URL, template parameter "
                 "PublicApiUrl): this deployment has none, so no callback URL could be sent")
TASK_ID_HEADER = "Taskhook-Task-Id"


def target_headers(task: Task) -> dict[str, str]:
    """The task's headers plus the task id, for the target to de-duplicate on: delivery is
    at-least-once (a run that crashes after calling is followed by one that calls again). The id
    also goes as `Idempotency-Key` unless the task sets its own."""
    headers = dict(task.headers)
    headers[TASK_ID_HEADER] = task.id
    if not any(name.lower() == "idempotency-key" for name in headers):
        headers["Idempotency-Key"] = task.id
    return headers


@dataclass
class Executor:
    repository: TaskRepository
    call: Caller
    bodies: BodyStore | None = None
    claim_margin: float = 30.0
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] | None = None
    functions: FunctionRunner | None = None  # runs tasks of kind "function"
    shares: Shares | None = None  # the team's share and destination limits; None: no gate
    public_url: str = ""  # the API's public base URL: a waitForCallback task's callback URL starts with it
    poller: Poller | None = None  # polls provider jobs (run/poll.py); None: a pollConfig task ends at its submit

    @property
    def unclaimed_hold(self) -> float:
        """How long a received message needs to stay invisible until its claim (which then holds it
        for the run): the claim margin, plus the longest a due-soon task is waited for in hand."""
        return self.claim_margin + EARLY_WAIT_LIMIT

    def run(self, task_id: str, time_left: Callable[[], float], hold: Callable[[float], None],
            put_backs: int = 0, team: str | None = None, poll: str | None = None,
            send_poll: SendPoll | None = None, sent_at: datetime | None = None,
            carried: Task | None = None) -> Outcome:
        """Process one message for `task_id`. `time_left()` is the invocation's remaining seconds;
        `hold(s)` keeps the message invisible for `s` seconds while we work on it; `put_backs`
        is how many times the task was put back over its team's share or a destination's limit,
        and `team` its team, which a put-back message carries. `poll`: the poll token of a polling
        task's poll message; `send_poll(token, delay)` sends the task's next poll message; `sent_at`
        when the message was sent (SQS's SentTimestamp). `carried`: the row as the create wrote it,
        which its message carries (a first delivery's): the claim is made from it, on condition that
        the row is still at its first version, and the row is read only if it is not (CARRIED)."""
        if team is not None and self.shares is not None:
            # Churning through a team's backlog: while this process knows the team is at its
            # share, its tasks go back without a read of the task or a write of the limits.
            known = self.shares.known_full(team)
            if known is not None:
                return self._put_back(put_backs, known, team)
        held = None
        if carried is not None and carried.id == task_id and poll is None:
            try:
                return self._decide(carried, time_left, hold, put_backs, send_poll, from_message=True)
            except _ReadTheRow as moved:
                held = moved.admission
        try:
            return self._read_and_decide(task_id, time_left, hold, put_backs, poll, send_poll, sent_at, held)
        finally:
            if held is not None:
                held.release()  # unless the decision on the row used it (and released it: once is enough)

    def _read_and_decide(self, task_id: str, time_left: Callable[[], float], hold: Callable[[float], None],
                         put_backs: int, poll: str | None, send_poll: SendPoll | None, sent_at: datetime | None,
                         held: Admission | None) -> Outcome:
        task = self.repository.get(task_id)
        if task is None and poll is None and sent_at is not None and self._young(sent_at):
            task = self._reread(task_id)
            if task is None:
                return Outcome.again(ROW_WAIT, "its row is not written yet (the create may still be writing it)")
        if poll is not None:  # one poll of a provider's job (no share gate: a short GET)
            return self.poller.poll(task, poll, send_poll, time_left, hold) if self.poller else Outcome.done(
                "this executor does not poll")
        if task is None:
            return Outcome.done("no such task")
        return self._decide(task, time_left, hold, put_backs, send_poll, held=held)

    def _decide(self, task: Task, time_left: Callable[[], float], hold: Callable[[float], None],
                put_backs: int, send_poll: SendPoll | None, from_message: bool = False,
                held: Admission | None = None) -> Outcome:
        """What one delivery does with `task` as read, or (`from_message`) as its message carries it:
        _ReadTheRow then when the row may not be that any more."""
        if task.status in TERMINAL:
            return Outcome.done(f"already {task.status.value}")
        if task.status is TaskStatus.POLLING and self.poller is not None:
            return self.poller.resume(task, send_poll)  # the submit's message again: never drop the chain
        if task.status in (TaskStatus.WAITING, TaskStatus.POLLING):
            return Outcome.done(f"{task.status.value}: not the executor's")

        now = self.clock()
        if task.status is TaskStatus.DELAYED and task.delayUntil:
            early = (parse_iso(task.delayUntil) - now).total_seconds()
            if early > EARLY_WAIT_LIMIT:
                return Outcome.again(early, "not due yet")
            if early > 0:
                self.sleep(early)
                now = self.clock()
        if task.status is TaskStatus.PENDING and task.retryAt:
            # A duplicate delivery of a task waiting out its backoff must not retry early.
            wait = (parse_iso(task.retryAt) - now).total_seconds()
            if wait > EARLY_WAIT_LIMIT:
                return Outcome.again(wait, "backing off")
        if task.status is TaskStatus.PROCESSING and task.claimedAt:
            stale_at = lifecycle.stale_claim_at(task, self.claim_margin)
            if now < stale_at:
                return Outcome.again((stale_at - now).total_seconds(), "claimed by another run")

        token = uuid.uuid4().hex
        claim = lifecycle.claim(task, token, now)
        # The deadline as the claim leaves it: taking over a crashed run's claim gives back what
        # that run had left of maxWaitTime (the crash credit), so only a task that had no time
        # left when it was claimed times out here.
        claimed = task.model_copy(update=dict(claim.changes))
        if self._deadline_passed(claimed, now):  # never a carried row's: it was not started
            return self._finish_timeout(task, task.claimToken, now)
        if from_message:
            claim = replace(claim, version=FIRST_VERSION)
        task_budget = min(task.timeout, self._wait_left(claimed, now))
        budget = min(task_budget, max(1.0, time_left() - 2.0))

        # The team's share and the destination's limits, before the claim: a task over one is
        # put back (a new message), never run nor held. Its slots last the run, or expire.
        admission: Admission | Refusal | None = held
        if admission is None and self.shares is not None:
            admission = self.shares.admit(task, budget + self.claim_margin)
        if isinstance(admission, Refusal):
            return self._put_back(put_backs, admission, task.teamId)
        try:
            return self._claim_and_run(task, claim, token, budget, task_budget, hold, send_poll, from_message)
        except _ReadTheRow as moved:
            moved.admission, admission = admission, None  # the decision on the row goes on with them
            raise
        finally:
            if admission is not None:
                admission.release()

    def _lost_race(self, task_id: str, note: str) -> Outcome:
        """Another run (or a cancel, or the sweep) moved the task first. Its message may be this very
        message: SQS delivers a message again when a run outlasts its hold, and the run that then
        keeps the task relies on the message coming back (a retry's backoff, a claim taken over).
        Deleting it would leave the task with none (SQS "might" delete with an older receipt handle;
        the emulator does). So the message is done with only once the task has ended; until then it
        comes back when the task could need it: the other claim's stale time, or the retry's time."""
        task = self.repository.get(task_id)
        if task is None or task.status in TERMINAL or task.status in (TaskStatus.WAITING, TaskStatus.POLLING):
            return Outcome.done(note)
        now = self.clock()
        if task.status is TaskStatus.PROCESSING and task.claimedAt:
            due = lifecycle.stale_claim_at(task, self.claim_margin)
        elif task.status is TaskStatus.PENDING and task.retryAt:
            due = parse_iso(task.retryAt)
        elif task.status is TaskStatus.DELAYED and task.delayUntil:
            due = parse_iso(task.delayUntil)
        else:
            due = now
        return Outcome.again(max(1.0, (due - now).total_seconds()), f"{note}; the task is {task.status.value}: "
                             "its message stays")

    def _young(self, sent_at: datetime) -> bool:
        return (self.clock() - sent_at).total_seconds() < NEW_ROW_PATIENCE

    def _reread(self, task_id: str) -> Task | None:
        """The row of a message received before the create that sent it wrote the row, if it comes soon."""
        for pause in ROW_REREADS:
            self.sleep(pause)
            task = self.repository.get(task_id)
            if task is not None:
                return task
        return None

    def _put_back(self, put_backs: int, refusal: Refusal, team: str) -> Outcome:
        delay = put_back_delay(put_backs, refusal.retry_after, *([self.rand] if self.rand else []))
        return Outcome.put_back_after(delay, f"put back for {delay}s: {refusal.reason}", team)

    def _claim_and_run(self, task: Task, claim: Transition, token: str, budget: float, task_budget: float,
                       hold: Callable[[float], None], send_poll: SendPoll | None = None,
                       from_message: bool = False) -> Outcome:
        secret = None
        if task.waitForCallback and task.kind != FUNCTION_KIND and self.public_url:
            # This attempt's callback URL: its hash is stored with the claim, so a target that calls
            # back before its 2xx answer is recorded is told "not waiting yet" (409), not "not found".
            secret = new_secret()
            claim = replace(claim, changes=TaskChanges(**claim.changes, callbackHash=hash_secret(secret)))
        try:
            task = self.repository.apply(task, claim)
        except (Conflict, NotFound):
            if from_message:
                raise _ReadTheRow from None  # not written yet, or changed since: the row says what to do
            return self._lost_race(task.id, "another run or a cancel got there first")

        hold(budget + self.claim_margin)
        if task.kind == FUNCTION_KIND:
            return self._run_function(task, token, budget, interrupted_if_late=budget < task_budget)
        if task.waitForCallback:
            return self._call_and_wait(task, token, budget, secret)
        try:
            spec = PollSpec.of(task) if self.poller is not None else None
        except PollFailure as exc:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=str(exc)))
        attempt = self.call(task, budget)
        if spec is not None and self.poller is not None and attempt.final:
            return self.poller.start(task, token, spec, attempt, send_poll)  # the submit answered
        return self._record(task, token, attempt)

    def _call_and_wait(self, task: Task, token: str, budget: float, secret: str | None) -> Outcome:
        """A waitForCallback task: the call carries this attempt's one-time callback URL
        (model/callbacks.py); a 2xx answer moves the task to `waiting`, any other answer is recorded
        as for any task. Each attempt has its own URL: a retry's claim replaces the earlier one."""
        if secret is None:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=NO_PUBLIC_URL))
        headers = {k: v for k, v in task.headers.items() if k.lower() != CALLBACK_HEADER.lower()}
        headers[CALLBACK_HEADER] = callback_url(self.public_url, task.id, secret)
        attempt = self.call(task.model_copy(update={"headers": headers}), budget)
        if attempt.status_code is None or not 200 <= attempt.status_code < 300:
            return self._record(task, token, attempt)
        try:
            self.repository.apply(task, lifecycle.start_waiting(
                task, token, hash_secret(secret), self._result_document(task, attempt), self.clock()))
        except (Conflict, NotFound):
            return self._lost_race(task.id, "lost the claim; the task was finished elsewhere")
        return Outcome.done(TaskStatus.WAITING.value)

    def _wait_left(self, task: Task, now: datetime) -> float:
        if not task.startedAt:
            return task.maxWaitTime
        deadline = parse_iso(task.startedAt) + timedelta(seconds=task.maxWaitTime + (task.waitCredit or 0))
        return (deadline - now).total_seconds()

    def _deadline_passed(self, task: Task, now: datetime) -> bool:
        return task.startedAt is not None and self._wait_left(task, now) <= 0

    def _finish(self, task: Task, token: str | None, status: TaskStatus, changes: TaskChanges,
                status_code: int | None = None) -> Outcome:
        return self._end(task, lifecycle.finish(task, status, self.clock(), token, changes, status_code), status)

    def _end(self, task: Task, transition: Transition, status: TaskStatus) -> Outcome:
        return end(self.repository, task, transition, status, "lost the claim; the task was finished elsewhere",
                   lambda note: self._lost_race(task.id, note))

    def _finish_timeout(self, task: Task, token: str | None, now: datetime, error: str | None = None,
                        extra: TaskChanges | None = None, status_code: int | None = None) -> Outcome:
        return self._end(task, lifecycle.time_out(task, self.clock(), token, error, extra, status_code),
                         TaskStatus.TIMEOUT)

    def _record(self, task: Task, token: str, attempt: Attempt) -> Outcome:
        now = self.clock()
        code = attempt.status_code
        if attempt.final:
            return self._finish(task, token, TaskStatus.COMPLETED,
                                TaskChanges(result=self._result_document(task, attempt), error=None), code)
        if not attempt.retryable:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=attempt.error), code)
        return self._retry_or_give_up(task, token, attempt.error, attempt.retry_after, now, status_code=code)

    def _result_document(self, task: Task, attempt: Attempt) -> dict[str, Any]:
        """seed 002's `result` of a final answer; a body over INLINE_BODY_LIMIT goes to S3."""
        key = None
        if self.bodies is not None and len(attempt.body) > INLINE_BODY_LIMIT:
            key = f"results/{task.teamId}/{task.id}/body"
            self.bodies.put(key, attempt.body, attempt.headers.get("content-type", "application/octet-stream"))
        return result_document(attempt, INLINE_BODY_LIMIT, key)

    def _retry_or_give_up(self, task: Task, token: str, error: str | None, retry_after: float | None,
                          now: datetime, extra: TaskChanges | None = None,
                          status_code: int | None = None) -> Outcome:
        """After a retryable failure: timeout past maxWaitTime, failed after maxRetries, else
        back to pending and the message redelivered after the backoff."""
        extra = extra or TaskChanges()
        if self._deadline_passed(task, now):
            return self._finish_timeout(task, token, now, error, extra, status_code)
        if task.retryCount >= task.maxRetries:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=error, **extra), status_code)
        policy = RetryPolicy(backoff=task.retryBackoff)
        retry = task.retryCount + 1
        delay = policy.delay(retry, retry_after, *( [self.rand] if self.rand else []))
        try:
            self.repository.apply(
                task, lifecycle.back_off(task, token, now, now + timedelta(seconds=delay), error, extra,
                                         status_code))
        except (Conflict, NotFound):
            return self._lost_race(task.id, "lost the claim before the retry was recorded")
        return Outcome.again(math.ceil(delay), f"retry {retry} in {delay:.1f}s")

    def _run_function(self, task: Task, token: str, budget: float, interrupted_if_late: bool) -> Outcome:
        """A function task's attempt: the same claim, retries, backoff and deadlines as an HTTP
        call; its progress and message are recorded with whatever status it ends in."""
        if self.functions is None:
            return self._finish(task, token, TaskStatus.FAILED,
                                TaskChanges(error="this executor runs no function tasks"))
        attempt, context = self.functions.run(task, token, budget, interrupted_if_late)
        if attempt.lost:
            return self._lost_race(task.id, "lost the claim while the function ran")
        reported = TaskChanges(progress=context.progress, message=context.message)
        if attempt.ok:
            return self._finish(task, token, TaskStatus.COMPLETED, TaskChanges(
                message=context.message, progress=100, result=attempt.result, output=context.output, error=None,
            ))
        now = self.clock()
        if not attempt.retryable:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=attempt.error, **reported))
        if attempt.interrupted and not self._deadline_passed(task, now):
            # The invocation's time ran out, not the task's: run it again without using a retry
            # (bounded by maxWaitTime and by the queue's maxReceiveCount).
            try:
                self.repository.apply(task, lifecycle.requeue(task, token, now, attempt.error, reported))
            except (Conflict, NotFound):
                return self._lost_race(task.id, "lost the claim before the retry was recorded")
            return Outcome.again(1, f"interrupted ({attempt.error}): again in a new invocation")
        return self._retry_or_give_up(task, token, attempt.error, None, now, reported)
