"""Polling a provider's job: one poll is one lane message carrying the task's poll token.

After the submit answered 2xx (`start`), the task is `polling` and its claimToken is a poll token
T; a new message `{"taskId", "poll": T}` comes back after the interval (SQS DelaySeconds). That
message's poll (`poll`) GETs the status URL; if the job is still pending it sends the next
message (token T2) FIRST and only then moves the task on (`poll_again`: T -> T2). If that send
fails nothing moves and the current message is held for the interval (it still carries the
valid token). A message whose token is not the stored one is dropped: at most one chain lives.
A message without a token for a task already `polling` (the submit's, redelivered after a crash
between the move and the first send) re-sends the chain with the stored token (`resume`).

Poll errors (no answer, 5xx, 429, a 2xx that is not JSON or has no status) never fail the task:
the next poll comes later (Retry-After honoured); maxWaitTime ends it (`timeout`). The task's
headers (its `tok_` ones resolved) go only to URLs of the submit URL's origin. Polls skip the
share and destination gate: they are short GETs, at most one per task per interval.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskhook.model import lifecycle
from taskhook.model.attempt import Attempt
from taskhook.model.clock import parse_iso, utcnow
from taskhook.model.errors import Busy, Conflict, NotFound
from taskhook.model.json_depth import nested_deeper_than
from taskhook.model.lifecycle import TaskChanges, Transition
from taskhook.model.limits import INLINE_RESULT_LIMIT, MAX_JSON_DEPTH, POLL_TIMEOUT
from taskhook.model.outcome import Outcome
from taskhook.model.outputs import output_key
from taskhook.model.polling import (
    PollFailure,
    PollSpec,
    classify,
    delay_seconds,
    next_interval,
    provider_message,
    same_origin,
    start_state,
    truncated,
)
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task, deadline_of
from taskhook.ports import BodyStore, TaskRepository
from taskhook.run.endings import end
from taskhook.run.vault import TokenUnavailable

log = logging.getLogger(__name__)

# (team, method, url, headers, timeout) -> the answer, on the team's own connections; never raises
# (adapters/http.py call_target).
Fetch = Callable[[str, str, str, dict[str, str], float], Attempt]
# The task's headers with `tok_` references resolved: TokenUnavailable, Busy.
ResolveHeaders = Callable[[Task], dict[str, str]]
# The provider's output files copied into S3 (run/provider_outputs.py): the task's `outputs`; the
# last argument is the invocation's time left (each download is cut to it).
CopyOutputs = Callable[[Task, Any, PollSpec, Callable[[], float]], list[dict[str, Any]]]
# Send the task's next poll message with this token after this many seconds; False: not sent.
SendPoll = Callable[[str, int], bool]


class _PollError(Exception):
    """A poll that did not tell us anything (network, 5xx, 429, unreadable 2xx): poll again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _PollFailed(Exception):
    """The job failed, or cannot be polled: the task fails with this message."""


@dataclass
class Poller:
    repository: TaskRepository
    fetch: Fetch
    resolve_headers: ResolveHeaders = lambda task: dict(task.headers)
    copy_outputs: CopyOutputs | None = None
    results: BodyStore | None = None  # a final JSON over INLINE_RESULT_LIMIT is stored here
    clock: Callable[[], datetime] = utcnow
    new_token: Callable[[], str] = lambda: uuid.uuid4().hex

    # ---- the submit answered -------------------------------------------------------------------

    def start(self, task: Task, token: str, spec: PollSpec, attempt: Attempt, send: SendPoll | None) -> Outcome:
        """The submit's final answer (claim `token`): 2xx -> polling and the first poll message;
        any other final answer means no job was created: failed with the provider's message."""
        code = attempt.status_code or 0
        if not 200 <= code < 300:
            return self._finish(task, token, TaskStatus.FAILED,
                                TaskChanges(error=f"submit answered {code}: {provider_message(attempt.body)}"))
        try:
            document = _json(attempt.body)
        except ValueError as exc:
            return self._finish(task, token, TaskStatus.FAILED,
                                TaskChanges(error=f"pollConfig.urlTemplate: submit answer is not JSON{_why(exc)}"))
        try:
            state = start_state(spec, document)
        except PollFailure as exc:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=str(exc)))
        poll_token = self.new_token()
        try:
            task = self.repository.apply(task, lifecycle.start_polling(task, token, poll_token, state, self.clock()))
        except (Conflict, NotFound):
            current = self.repository.get(task.id)
            if current is not None and current.status is TaskStatus.CANCELLED:
                # Cancelled while the submit was in flight: the job it created is cancelled too.
                return Outcome.done(self._cancel_job(current.model_copy(update={"poll": state})))
            return Outcome.done("lost the claim; the task was finished elsewhere")
        return self._send(task, poll_token, state["interval"], send, "polling")

    def resume(self, task: Task, send: SendPoll | None) -> Outcome:
        """A message without a poll token for a task already polling: the submit's message came
        back (the run died between start_polling and the first send, or SQS delivered it twice).
        The chain is sent again with the stored token; a duplicate chain dies at its next poll."""
        state = task.poll or {}
        return self._send(task, task.claimToken or "", float(state.get("interval", 1)), send,
                          "polling: poll message sent again")

    # ---- one poll ------------------------------------------------------------------------------

    def poll(self, task: Task | None, token: str, send: SendPoll | None, time_left: Callable[[], float],
             hold: Callable[[float], None]) -> Outcome:
        if task is None:
            return Outcome.done("no such task")
        stopped = self._stopped(task, token)
        if stopped is not None:
            return stopped
        if task.status in TERMINAL:
            return Outcome.done(f"already {task.status.value}")
        if task.status is not TaskStatus.POLLING or token != task.claimToken:
            return Outcome.done("stale poll")
        now = self.clock()
        state = dict(task.poll or {})
        deadline = deadline_of(task)
        if deadline is not None and parse_iso(deadline) <= now:
            outcome = self._end(task, lifecycle.time_out(task, now, token, state.get("lastError")), TaskStatus.TIMEOUT,
                                after_lost=lambda lost: self._stopped_first(task.id, token, lost))
            if outcome.note == TaskStatus.TIMEOUT.value:
                return Outcome.done(self._cancel_job(task, "timeout"))
            return outcome
        try:
            spec = PollSpec.of(task)
        except PollFailure as exc:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=str(exc)))
        if spec is None or not state.get("statusUrl"):
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error="polling task without a poll state"))
        timeout = max(1.0, min(task.timeout, POLL_TIMEOUT, time_left() - 2.0))
        try:
            verdict = self._status(task, spec, state["statusUrl"], timeout)
            if verdict is None:
                return self._next(task, token, spec, state, send, None, None)
            final = self._result(task, state, verdict, timeout)
        except _PollError as exc:
            return self._next(task, token, spec, state, send, exc.reason, exc.retry_after)
        except _PollFailed as exc:
            return self._finish(task, token, TaskStatus.FAILED, TaskChanges(error=truncated(str(exc))))
        try:  # copying the outputs can take a while: no second run of this message meanwhile
            hold(max(60.0, time_left()))
        except Exception as exc:  # noqa: BLE001 - a second run would only find the task finished
            log.warning("task %s: holding the poll message failed (%s)", task.id, type(exc).__name__)
        return self._complete(task, token, spec, state, final, send, time_left)

    def _status(self, task: Task, spec: PollSpec, url: str, timeout: float) -> Any:
        """The status answer when the job is done; None when it is pending."""
        document = self._get_json(task, url, timeout, "status poll")
        verdict = classify(spec, document)
        if verdict.kind == "unreadable":
            raise _PollError(verdict.error or "status poll answer unreadable")
        if verdict.kind == "failed":
            raise _PollFailed(verdict.error or f"provider reported {verdict.status}")
        if verdict.kind == "pending":
            return None
        return document

    def _result(self, task: Task, state: dict[str, Any], status_document: Any, timeout: float) -> Any:
        """The job's final JSON: the result URL's answer when the spec has one, else the status answer."""
        url = state.get("resultUrl")
        if not url:
            return status_document
        return self._get_json(task, url, timeout, "result call", provider_words=True)

    def _get_json(self, task: Task, url: str, timeout: float, what: str, provider_words: bool = False) -> Any:
        attempt = self._call(task, "GET", url, timeout)
        if attempt.blocked:
            raise _PollFailed(f"{what}: {attempt.error}")
        code = attempt.status_code
        if code is None or code >= 500 or code == 429:
            raise _PollError(f"{what}: {attempt.error or f'HTTP {code}'}", attempt.retry_after)
        if not 200 <= code < 300:
            if provider_words:
                raise _PollFailed(provider_message(attempt.body))
            raise _PollFailed(f"{what} answered {code}: {provider_message(attempt.body)}")
        try:
            return _json(attempt.body)
        except ValueError as exc:
            raise _PollError(f"{what}: answer {code} is not JSON{_why(exc)}") from None

    def _call(self, task: Task, method: str, url: str, timeout: float) -> Attempt:
        """One call; the task's headers only to the submit URL's origin."""
        headers: dict[str, str] = {}
        if same_origin(url, task.targetUrl or ""):
            try:
                headers = self.resolve_headers(task)
            except TokenUnavailable as exc:
                raise _PollFailed(exc.message) from None
            except Busy:
                raise _PollError("token vault busy (throttled)") from None
        return self.fetch(task.teamId, method, url, headers, timeout)

    # ---- what follows a poll -------------------------------------------------------------------

    def _next(self, task: Task, token: str, spec: PollSpec, state: dict[str, Any], send: SendPoll | None,
              error: str | None, retry_after: float | None) -> Outcome:
        """Pending (or a poll error): the next poll message first, then the move to its token."""
        interval = next_interval(spec, float(state.get("interval", spec.intervalSeconds)), retry_after)
        state.update(polls=int(state.get("polls", 0)) + 1, interval=interval)
        if error is not None:
            state.update(errors=int(state.get("errors", 0)) + 1, lastError=truncated(error))
        else:
            state.pop("lastError", None)
        next_token = self.new_token()
        if send is None or not send(next_token, delay_seconds(interval)):
            return Outcome.again(delay_seconds(interval), "next poll not sent: this message comes back instead")
        try:
            self.repository.apply(task, lifecycle.poll_again(token, next_token, state, self.clock()))
        except (Conflict, NotFound):
            return Outcome.done(self._after_lost_move(task.id))
        return Outcome.done(f"poll {state['polls']}: {error or 'pending'}; next in {delay_seconds(interval)}s")

    def _after_lost_move(self, task_id: str) -> str:
        """The move to the next token lost to another write: a cancel (whose provider call is ours:
        the message just sent carries a token the task never got) or a duplicate poll's move."""
        task = self.repository.get(task_id)
        if task is not None and task.status is TaskStatus.CANCELLED:
            return self._cancel_job(task)
        return "stale poll (another poll moved first)"

    def _complete(self, task: Task, token: str, spec: PollSpec, state: dict[str, Any], final: Any,
                  send: SendPoll | None, time_left: Callable[[], float]) -> Outcome:
        outputs: list[dict[str, Any]] | None = None
        if self.copy_outputs is not None:
            try:
                outputs = self.copy_outputs(task, final, spec, time_left) or None
            except Exception as exc:  # noqa: BLE001 - S3 or the vault, not a file: try again at the next poll
                # (a file that cannot be downloaded is an entry with its error, not an exception). The
                # job is done at the provider, so the next poll finds it done again and copies again
                # (same keys); maxWaitTime still bounds it.
                log.exception("task %s: copying the provider's outputs failed", task.id)
                return self._next(task, token, spec, state, send,
                                  f"copying the outputs failed ({type(exc).__name__}); again at the next poll", None)
        changes = TaskChanges(result=final, error=None, outputs=outputs)
        encoded = json.dumps(final, separators=(",", ":"))
        if len(encoded.encode("utf-8")) > INLINE_RESULT_LIMIT and self.results is not None:
            # The row stays under DynamoDB's 400 KB: the final JSON is the task's output file.
            key = output_key(task.teamId, task.id, "result.json")
            payload = encoded.encode("utf-8")
            self.results.put(key, payload, "application/json")
            changes["result"] = None
            changes["output"] = {"key": key, "contentType": "application/json", "size": len(payload),
                                 "filename": "result.json"}
        return self._finish(task, token, TaskStatus.COMPLETED, changes)

    def _stopped(self, task: Task, token: str) -> Outcome | None:
        """A cancel or the sweep's timeout (maxWaitTime) ended the task: the chain's message cancels
        the provider's job too (None: neither)."""
        if task.status is TaskStatus.CANCELLED:
            if token == task.claimToken:
                return Outcome.done(self._cancel_job(task))
            return Outcome.done("cancelled; stale poll")
        if task.status is TaskStatus.TIMEOUT and task.poll is not None and task.claimToken is None:
            return Outcome.done(self._cancel_job(task, "timeout"))
        return None

    def _cancel_job(self, task: Task, ended: str = "cancelled") -> str:
        """A polling task cancelled or timed out: the provider's cancel URL, if it gave one (once per
        chain; a stale duplicate message may call it again, which a provider's cancel allows)."""
        state = task.poll or {}
        url = state.get("cancelUrl")
        if not url:
            return f"{ended}; the provider has no cancel URL"
        method = str(state.get("cancelMethod") or "POST")
        try:
            attempt = self._call(task, method, url, min(task.timeout, POLL_TIMEOUT))
        except (_PollError, _PollFailed) as exc:
            return f"{ended}; provider cancel not called: {exc}"
        return f"{ended}; provider cancel {method} answered {attempt.status_code or attempt.error}"

    def _send(self, task: Task, poll_token: str, interval: float, send: SendPoll | None, note: str) -> Outcome:
        delay = delay_seconds(interval)
        if send is None or not send(poll_token, delay):
            # This message comes back instead, and (no poll token) sends the chain again.
            return Outcome.again(delay, "first poll message not sent: held")
        return Outcome.done(f"{note}; first poll in {delay}s")

    def _finish(self, task: Task, token: str | None, status: TaskStatus, changes: TaskChanges) -> Outcome:
        return self._end(task, lifecycle.finish(task, status, self.clock(), token, changes), status)

    def _end(self, task: Task, transition: Transition, status: TaskStatus,
             after_lost: Callable[[str], Outcome] | None = None) -> Outcome:
        return end(self.repository, task, transition, status, "lost the poll token; the task was finished elsewhere",
                   after_lost)

    def _stopped_first(self, task_id: str, token: str, lost: str) -> Outcome:
        """This poll's timeout lost to the sweep's or to a cancel: it is its chain's last message, so
        it does what the next one would have done."""
        current = self.repository.get(task_id)
        return (self._stopped(current, token) if current is not None else None) or Outcome.done(lost)


class _TooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH: a task holding it could not be read back."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels")


def _why(exc: ValueError) -> str:
    """The reason a JSON answer was refused, when it decoded (or was too deep to)."""
    return f" ({exc})" if isinstance(exc, _TooDeep) else ""


def _json(body: bytes) -> Any:
    """The answer's JSON; ValueError for anything else, a document nested too deep to decode included
    (json raises RecursionError for it, which would crash the record and redeliver it)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise _TooDeep from None
    if nested_deeper_than(document):
        raise _TooDeep
    return document
