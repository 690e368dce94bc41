"""The task lifecycle: the one table of legal moves, and every move as a typed value.

A `Transition` names its target status and the fields it changes (`TaskChanges`: a field no
transition may set is refused). The repositories apply it as one conditional write whose
condition is derived from the table: the stored status must be one of `sources_of(target)`
(narrowed by `from_`), each `expect`ed field must hold its value, and, when given, the row's
`version` must match. Every applied transition increments the row's `version`, so a stream
consumer can tell a real change from a repeated or stale record. The fake and DynamoDB refuse
the same illegal moves and unknown fields: `check()` runs in both before anything is written.

The moves the pipeline makes are built by the named functions below (`claim`, `finish`,
`back_off`, …), never by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from taskhook.model import attempt_log
from taskhook.model.clock import iso, parse_iso
from taskhook.model.status import CANCELLABLE, TaskStatus
from taskhook.model.task import Task

_S = TaskStatus
# from-status -> the statuses it may move to. Terminal statuses move nowhere.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _S.PENDING: frozenset({_S.PROCESSING, _S.CANCELLED, _S.TIMEOUT, _S.FAILED}),
    # delayed -> processing: the executor claims a delayed task whose delayUntil has come;
    # -> failed: its message was dead-lettered; delayed -> delayed: the sweep marks it sent.
    _S.DELAYED: frozenset({_S.DELAYED, _S.PENDING, _S.PROCESSING, _S.CANCELLED, _S.FAILED}),
    # processing -> pending is a retry; processing -> processing is a stale claim taken over.
    _S.PROCESSING: frozenset(
        {_S.PENDING, _S.PROCESSING, _S.WAITING, _S.POLLING, _S.COMPLETED, _S.FAILED, _S.TIMEOUT}
    ),
    # waiting -> completed/failed: its callback came (or POST /v1/tasks/{id}/complete).
    _S.WAITING: frozenset({_S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELLED}),
    # polling -> polling: one more poll made (the poll token, claimToken, moves on).
    _S.POLLING: frozenset({_S.POLLING, _S.COMPLETED, _S.FAILED, _S.TIMEOUT, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.TIMEOUT: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(current: TaskStatus, new: TaskStatus) -> bool:
    return new in TRANSITIONS[current]


def sources_of(new: TaskStatus) -> frozenset[TaskStatus]:
    """Every status from which `new` may be entered: the condition of a transition's write."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)


class TaskChanges(TypedDict, total=False):
    """The fields a transition may set (None removes the field). Identity, request fields and
    the status itself are not among them: the status is the transition's target."""

    retryCount: int
    error: str | None
    result: Any
    output: dict[str, Any] | None
    progress: int | None
    message: str | None
    startedAt: str | None
    completedAt: str | None
    updatedAt: str | None
    claimToken: str | None
    claimedAt: str | None
    dispatchedAt: str | None
    retryAt: str | None
    waitCredit: float | None
    poll: dict[str, Any] | None
    outputs: list[dict[str, Any]] | None
    callbackHash: str | None
    attempts: list[dict[str, Any]] | None
    attemptsTotal: int | None


CHANGEABLE = frozenset(TaskChanges.__annotations__)
# Fields a transition may be conditioned on, besides the status and the version.
EXPECTABLE = frozenset({"claimToken", "dispatchedAt"})


class IllegalTransition(Exception):
    """A transition the lifecycle forbids, or one that sets a field no transition may set: a
    programming error, refused before anything is written (not a TaskhookError: a route that
    met one answers the bare 500, never this text)."""


@dataclass(frozen=True)
class Transition:
    target: TaskStatus
    changes: TaskChanges = field(default_factory=lambda: TaskChanges())
    # The statuses the caller moves from (the one it read, usually); None: any legal source.
    from_: frozenset[TaskStatus] | None = None
    # Fields that must hold these values (None: absent) for the write to happen.
    expect: Mapping[str, Any] = field(default_factory=dict)
    # The row's version the caller read, when the write must not follow any other change.
    version: int | None = None

    @property
    def changes_status(self) -> bool:
        """Whether the write changes the stored status whatever it is now (the target is none of
        the statuses it may move from; a stale claim taken over stays `processing`)."""
        return self.target not in self.sources

    @property
    def sources(self) -> frozenset[TaskStatus]:
        legal = sources_of(self.target)
        return legal if self.from_ is None else legal & self.from_

    def check(self) -> None:
        """Raise IllegalTransition unless every move this transition may make is in the table
        and every field it sets or expects is one a transition may touch."""
        if self.from_ is not None:
            illegal = sorted(s.value for s in self.from_ - sources_of(self.target))
            if illegal:
                raise IllegalTransition(f"illegal transition {', '.join(illegal)} -> {self.target.value}")
        if not self.sources:
            raise IllegalTransition(f"no status may move to {self.target.value}")
        unknown = sorted((set(self.changes) - CHANGEABLE) | (set(self.expect) - EXPECTABLE))
        if unknown:
            raise IllegalTransition(f"a transition cannot set or expect {', '.join(unknown)}")


def claim(task: Task, token: str, now: datetime) -> Transition:
    """A run takes the task: pending, delayed (due) or a stale processing claim -> processing.
    Conditioned on the claim it read, not on the version: a bookkeeping write in between (the
    sweep's dispatch mark) must not make a run give the task up. Taking over a stale claim gives
    back the time the crashed run held the task (`crash_credit`)."""
    stamp = iso(now)
    changes = TaskChanges(claimToken=token, claimedAt=stamp, startedAt=task.startedAt or stamp, updatedAt=stamp)
    if task.status is _S.PROCESSING and task.claimedAt:
        changes["waitCredit"] = crash_credit(task, now)
        changes.update(_attempt_ended(task, now, "crashed", error="the run holding the task stopped answering"))
    return Transition(_S.PROCESSING, changes, from_=frozenset({task.status}), expect={"claimToken": task.claimToken})


def stale_claim_at(task: Task, claim_margin: float) -> datetime:
    """When a processing task's claim is taken to belong to a run that died: its attempt's timeout
    plus the margin for recording the answer (the executor holds the message as long)."""
    claimed = parse_iso(task.claimedAt) if task.claimedAt else parse_iso(task.createdAt)
    return claimed + timedelta(seconds=task.timeout + claim_margin)


def crash_credit(task: Task, now: datetime) -> float:
    """The task's wait credit once a run takes over the stale claim of a crashed one: the whole
    time that run held it, so the successor has the maxWaitTime the crashed run had at its claim."""
    held = (now - parse_iso(task.claimedAt)).total_seconds() if task.claimedAt else 0.0
    return (task.waitCredit or 0) + max(0.0, held)


def _attempt_ended(task: Task, now: datetime, outcome: str, status_code: int | None = None,
                   error: str | None = None, next_retry_at: str | None = None) -> TaskChanges:
    """The attempt history's entry for the attempt that ends with this write (model/attempt_log.py):
    only a run's attempt (a processing claim or a polling job) has one to record."""
    if task.status not in (_S.PROCESSING, _S.POLLING):
        return TaskChanges()
    if outcome == "completed" and not task.attempts:
        # A first attempt that completes is stored as nothing: the task's own startedAt, completedAt
        # and result say it all (attempt_log.view), and most tasks end so (issue 15: bytes are billed).
        return TaskChanges()
    recorded = attempt_log.ended(task, now, outcome, status_code=status_code, error=error,
                                 next_retry_at=next_retry_at)
    changes = TaskChanges()
    if recorded:
        changes["attempts"] = recorded["attempts"]
        changes["attemptsTotal"] = recorded["attemptsTotal"]
    return changes


def finish(task: Task, status: TaskStatus, now: datetime, token: str | None,
           changes: TaskChanges | None = None, status_code: int | None = None) -> Transition:
    """The run holding claim `token` (None: the task has no claim) ends the task with `status`,
    recording its attempt (`status_code`: the target's answer, if any)."""
    stamp = iso(now)
    changes = TaskChanges(completedAt=stamp, updatedAt=stamp, claimToken=None, **(changes or {}))
    changes.update(_attempt_ended(task, now, status.value if status.value in attempt_log.OUTCOMES else "failed",
                                  status_code, changes.get("error")))
    return Transition(status, changes, from_=frozenset({task.status}), expect={"claimToken": token})


def timeout_error(task: Task, cause: str | None = None) -> str:
    message = f"maxWaitTime of {task.maxWaitTime:g}s exceeded"
    return f"{message}: {cause}" if cause else message


def time_out(task: Task, now: datetime, token: str | None, cause: str | None = None,
             changes: TaskChanges | None = None, status_code: int | None = None) -> Transition:
    """maxWaitTime has passed since the task first started."""
    return finish(task, _S.TIMEOUT, now, token, TaskChanges(error=timeout_error(task, cause), **(changes or {})),
                  status_code)


def back_off(task: Task, token: str, now: datetime, retry_at: datetime, error: str | None,
             changes: TaskChanges | None = None, status_code: int | None = None) -> Transition:
    """A retryable failure: one more retry used, back to pending until `retry_at`."""
    changes = TaskChanges(retryCount=task.retryCount + 1, error=error, claimToken=None, updatedAt=iso(now),
                          retryAt=iso(retry_at), **(changes or {}))
    changes.update(_attempt_ended(task, now, "retry", status_code, error, iso(retry_at)))
    return Transition(_S.PENDING, changes, from_=frozenset({_S.PROCESSING}), expect={"claimToken": token})


def requeue(task: Task, token: str, now: datetime, error: str | None, changes: TaskChanges | None = None,
            outcome: str = "retry") -> Transition:
    """The invocation ran out of time, not the task (or, `crashed`, the local stack restarted under
    the run): back to pending without using a retry."""
    changes = TaskChanges(error=error, claimToken=None, updatedAt=iso(now), **(changes or {}))
    changes.update(_attempt_ended(task, now, outcome, error=error))
    return Transition(_S.PENDING, changes, from_=frozenset({_S.PROCESSING}), expect={"claimToken": token})


def mark_dispatched(task: Task, now: datetime) -> Transition:
    """The sweep is about to send a delayed task's message: marked first, so two sweeps never both
    send and a crash after the mark is repaired."""
    return Transition(_S.DELAYED, TaskChanges(dispatchedAt=iso(now)), from_=frozenset({_S.DELAYED}),
                      expect={"dispatchedAt": task.dispatchedAt})


def dead_letter(task: Task, now: datetime) -> Transition:
    """SQS gave up on the task's message (maxReceiveCount): it fails, whatever unfinished state it is in."""
    stamp = iso(now)
    error = "delivery abandoned: its message reached the dead-letter queue (maxReceiveCount)"
    changes = TaskChanges(error=error, completedAt=stamp, updatedAt=stamp, claimToken=None)
    if task.claimedAt:  # a run held it: the runs that kept failing to answer crashed
        changes.update(_attempt_ended(task, now, "crashed", error=error))
    return Transition(_S.FAILED, changes, from_=frozenset({task.status}))


def cancel(now: datetime) -> Transition:
    """A client cancels: from any status that allows it."""
    stamp = iso(now)
    return Transition(_S.CANCELLED, TaskChanges(completedAt=stamp, updatedAt=stamp), from_=CANCELLABLE)


def start_polling(task: Task, token: str, poll_token: str, poll: dict[str, Any], now: datetime) -> Transition:
    """The submit was accepted (2xx): processing -> polling. From now on the claimToken is the poll
    token: only the message that carries it may poll (model/polling.py)."""
    return Transition(
        _S.POLLING, TaskChanges(claimToken=poll_token, claimedAt=None, poll=poll, updatedAt=iso(now)),
        from_=frozenset({_S.PROCESSING}), expect={"claimToken": token},
    )


def poll_again(token: str, next_token: str, poll: dict[str, Any], now: datetime) -> Transition:
    """One poll made, the job not done yet: polling -> polling, the poll token moved on (a
    duplicate message carrying the old one is dropped)."""
    return Transition(
        _S.POLLING, TaskChanges(claimToken=next_token, poll=poll, updatedAt=iso(now)),
        from_=frozenset({_S.POLLING}), expect={"claimToken": token},
    )


def start_waiting(task: Task, token: str, callback_hash: str, result: Any, now: datetime) -> Transition:
    """The target accepted the task (2xx) and will call back: processing -> waiting."""
    return Transition(
        _S.WAITING,
        TaskChanges(claimToken=None, claimedAt=None, callbackHash=callback_hash, result=result, error=None,
                    updatedAt=iso(now)),
        from_=frozenset({_S.PROCESSING}), expect={"claimToken": token},
    )


def complete_waiting(status: TaskStatus, now: datetime, result: Any = None, error: str | None = None) -> Transition:
    """A waiting task's callback (or POST /v1/tasks/{id}/complete): waiting -> completed or failed.
    Single use by the status condition (a task is `waiting` once). The callback hash stays (hidden):
    a replay of the used URL is told apart from a wrong one (409, not 404; intake/callbacks.py)."""
    stamp = iso(now)
    return Transition(
        status, TaskChanges(completedAt=stamp, updatedAt=stamp, result=result, error=error),
        from_=frozenset({_S.WAITING}),
    )
