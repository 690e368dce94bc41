"""Executor.run with a Poller (run/poll.py) over the in-memory repository: the submit, each poll
message, the chain's token, errors, cancel, headers by origin. The calls are scripted by URL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskhook.model import lifecycle
from taskhook.model.attempt import Attempt
from taskhook.model.clock import iso
from taskhook.model.errors import Busy
from taskhook.model.limits import INLINE_RESULT_LIMIT
from taskhook.model.outcome import Outcome
from taskhook.model.polling import PollSpec
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.executor import Executor
from taskhook.run.poll import Poller
from taskhook.run.vault import TokenUnavailable
from tests.support.fakes import InMemoryObjectStore, InMemoryTaskRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
API = "https://api.fake"
SUBMIT = f"{API}/v1/predictions"
GET = f"{API}/v1/predictions/p1"
CANCEL = f"{API}/v1/predictions/p1/cancel"
REPLICATE = {"id": "p1", "status": "starting", "urls": {"get": GET, "cancel": CANCEL}}
QUEUE = "https://queue.fake/m/requests/r1"
FAL = {"request_id": "r1", "status_url": f"{QUEUE}/status", "response_url": QUEUE, "cancel_url": f"{QUEUE}/cancel"}


def js(code: int, doc: Any, headers: dict[str, str] | None = None) -> Attempt:
    return Attempt(code, headers={"content-type": "application/json", **(headers or {})},
                   body=json.dumps(doc).encode(), error=None if code < 500 and code != 429 else f"HTTP {code}",
                   retry_after=float((headers or {}).get("retry-after", 0)) or None)


class World:
    """The repository, a fake clock, the provider's scripted answers by URL and the sent messages."""

    def __init__(self, **fields: Any) -> None:
        self.now = NOW
        self.repo = InMemoryTaskRepository()
        self.store = InMemoryObjectStore()
        self.script: dict[str, list[Attempt]] = {}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.sent: list[tuple[str, int]] = []
        self.send_ok = True
        self.on_send: Callable[[], None] | None = None
        self.copied: list[Any] = []
        self.resolve: Callable[[Task], dict[str, str]] = lambda task: dict(task.headers)
        data: dict[str, Any] = {"id": "t1", "teamId": "team-a", "status": S.PENDING, "targetUrl": SUBMIT,
                                "headers": {"Authorization": "Bearer secret"}, "provider": "replicate",
                                "maxWaitTime": 3600, "createdAt": iso(NOW), "updatedAt": iso(NOW)}
        data.update(fields)
        self.repo.put_new(Task.model_validate(data))
        poller = Poller(self.repo, self.fetch, lambda task: self.resolve(task), self.copy, results=self.store,
                        clock=lambda: self.now)
        self.executor = Executor(self.repo, self.submit, clock=lambda: self.now, poller=poller)

    def answers(self, url: str, *attempts: Attempt) -> None:
        self.script[url] = list(attempts)

    def _next(self, url: str) -> Attempt:
        queue = self.script[url]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def submit(self, task: Task, timeout: float) -> Attempt:
        self.calls.append((task.method, task.targetUrl or "", dict(task.headers)))
        return self._next(task.targetUrl or "")

    def fetch(self, team: str, method: str, url: str, headers: dict[str, str], timeout: float) -> Attempt:
        assert timeout <= 30
        self.calls.append((method, url, headers))
        return self._next(url)

    def copy(self, task: Task, result: Any, spec: PollSpec, time_left: Callable[[], float]) -> list[dict[str, Any]]:
        assert time_left() > 0
        self.copied.append(result)
        return [{"key": "outputs/x/1-a.png", "source": "https://files.fake/a.png"}]

    def send(self, token: str, delay: int) -> bool:
        if self.on_send:
            self.on_send()
        if self.send_ok:
            self.sent.append((token, delay))
        return self.send_ok

    def run(self, poll: str | None = None) -> Outcome:
        return self.executor.run("t1", lambda: 300.0, lambda s: None, poll=poll, send_poll=self.send)

    def task(self) -> Task:
        task = self.repo.get("t1")
        assert task is not None
        return task

    def poll(self) -> Outcome:
        """The message most recently sent."""
        return self.run(self.sent[-1][0])


def test_replicate_submit_polls_then_completes_with_the_final_prediction() -> None:
    w = World(pollConfig={"intervalSeconds": 1})
    w.answers(SUBMIT, js(201, REPLICATE))
    final = {"id": "p1", "status": "succeeded", "output": ["https://files.fake/a.png"], "error": None}
    w.answers(GET, js(200, {"id": "p1", "status": "processing"}), js(200, final))

    outcome = w.run()
    assert outcome.delete and w.task().status is S.POLLING
    first_token = w.task().claimToken
    assert w.sent == [(first_token, 1)]
    assert w.task().poll == {"statusUrl": GET, "cancelUrl": CANCEL, "cancelMethod": "POST", "polls": 0, "errors": 0,
                             "interval": 1}

    seen: list[str | None] = []
    w.on_send = lambda: seen.append(w.task().claimToken)
    assert w.poll().delete
    assert seen == [first_token]  # the next message went out before the task moved to its token
    assert w.task().status is S.POLLING and w.task().claimToken == w.sent[-1][0] != first_token
    assert w.sent[-1][1] == 2 and w.task().poll["polls"] == 1  # type: ignore[index]

    assert w.poll().note == "completed"
    done = w.task()
    assert done.status is S.COMPLETED and done.result == final and done.error is None
    assert done.outputs == [{"key": "outputs/x/1-a.png", "source": "https://files.fake/a.png"}]
    assert w.copied == [final] and done.claimToken is None and len(w.sent) == 2


def test_replicate_failure_carries_the_providers_error() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(200, {"status": "failed", "error": "NSFW content detected"}))
    w.run()
    assert w.poll().note == "failed"
    assert (w.task().status, w.task().error) == (S.FAILED, "NSFW content detected")


@pytest.mark.parametrize(("answer", "status", "error"), [
    (js(200, {"images": [{"url": "https://files.fake/b.png", "content_type": "image/png"}]}), S.COMPLETED, None),
    (js(422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}), S.FAILED, "field required"),
])
def test_fal_completed_then_the_response_url(answer: Attempt, status: TaskStatus, error: str | None) -> None:
    w = World(provider="fal", targetUrl="https://queue.fake/m")
    w.answers("https://queue.fake/m", js(200, FAL))
    w.answers(FAL["status_url"], js(202, {"status": "IN_QUEUE"}), js(200, {"status": "COMPLETED"}))
    w.answers(QUEUE, answer)
    w.run()
    w.poll()
    assert w.task().status is S.POLLING
    w.poll()
    task = w.task()
    assert (task.status, task.error) == (status, error)
    if status is S.COMPLETED:
        assert task.result == json.loads(answer.body)
    assert [c[1] for c in w.calls] == ["https://queue.fake/m", FAL["status_url"], FAL["status_url"], QUEUE]
    assert all(c[2] == {"Authorization": "Bearer secret"} for c in w.calls)  # all on the submit's origin


def test_a_custom_poll_config_against_a_plain_status_api() -> None:
    w = World(provider=None, targetUrl="https://jobs.fake/run", pollConfig={
        "urlTemplate": "https://jobs.fake/jobs/{{job.id}}", "statusPath": "state.name", "doneValues": ["DONE"],
        "failValues": ["ERR"], "errorPath": "state.why", "intervalSeconds": 1, "intervalGrowth": 1})
    w.answers("https://jobs.fake/run", js(202, {"job": {"id": "a b"}}))
    w.answers("https://jobs.fake/jobs/a%20b", js(200, {"state": {"name": "RUN"}}),
              js(200, {"state": {"name": "DONE"}, "value": 42}))
    w.run()
    w.poll()
    w.poll()
    assert (w.task().status, w.task().result) == (S.COMPLETED, {"state": {"name": "DONE"}, "value": 42})
    assert [d for _, d in w.sent] == [1, 1]


def test_poll_errors_keep_polling_with_the_interval_grown() -> None:
    w = World(pollConfig={"intervalSeconds": 2, "intervalGrowth": 2, "maxIntervalSeconds": 100})
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, Attempt(None, error="fetch failed: ECONNREFUSED"), js(503, {}),
              js(429, {}, {"retry-after": "50"}), Attempt(200, body=b"<html>"), js(200, {"nope": 1}),
              js(200, {"status": "succeeded"}))
    w.run()
    for _ in range(5):
        assert w.poll().delete
        assert w.task().status is S.POLLING
    assert [d for _, d in w.sent] == [2, 4, 8, 50, 100, 100]
    assert w.task().poll["errors"] == 5  # type: ignore[index]
    assert w.task().poll["lastError"] == "status poll answer has no status"  # type: ignore[index]
    w.poll()
    assert w.task().status is S.COMPLETED


def test_a_stale_or_duplicate_poll_message_is_dropped() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(200, {"status": "processing"}))
    w.run()
    old = w.sent[-1][0]
    w.poll()
    calls = len(w.calls)
    assert w.run(old).note == "stale poll"  # the same message again
    assert w.run("made-up").note == "stale poll"
    assert len(w.calls) == calls and len(w.sent) == 2


def test_a_submit_message_redelivered_for_a_polling_task_restarts_the_chain() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(200, {"status": "processing"}))
    w.send_ok = False
    outcome = w.run()  # the first poll message could not be sent: the submit message is held
    assert not outcome.delete and outcome.redeliver_after == 5
    assert w.task().status is S.POLLING and w.sent == []
    w.send_ok = True
    outcome = w.run()  # it comes back, without a poll token
    assert outcome.delete and w.sent == [(w.task().claimToken, 5)]
    assert len(w.calls) == 1  # not submitted again
    w.poll()
    assert w.task().poll["polls"] == 1  # type: ignore[index]


def test_a_next_message_not_sent_leaves_the_task_and_holds_the_current_one() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(200, {"status": "processing"}))
    w.run()
    token = w.sent[-1][0]
    w.send_ok = False
    outcome = w.run(token)
    assert not outcome.delete and outcome.redeliver_after == 8  # 5 * 1.5, in whole seconds
    assert w.task().claimToken == token and w.task().poll["polls"] == 0  # type: ignore[index]


def test_cancel_while_polling_calls_the_providers_cancel_once_with_the_headers() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(CANCEL, js(200, {"status": "canceled"}))
    w.run()
    w.repo.apply(w.task(), lifecycle.cancel(NOW))
    outcome = w.poll()
    assert outcome.delete and outcome.note == "cancelled; provider cancel POST answered 200"
    assert w.calls[-1] == ("POST", CANCEL, {"Authorization": "Bearer secret"})  # same origin: the headers
    assert GET not in [c[1] for c in w.calls] and len(w.sent) == 1  # no status poll, no next message


def test_a_cancel_racing_the_move_to_the_next_token_still_cancels_the_job() -> None:
    w = World(provider="fal", targetUrl="https://api.fake/m")  # fal's URLs: another origin than the submit
    w.answers("https://api.fake/m", js(200, FAL))
    w.answers(FAL["status_url"], js(200, {"status": "IN_PROGRESS"}))
    w.answers(FAL["cancel_url"], js(202, {}))
    w.run()
    w.on_send = lambda: w.repo.apply(w.task(), lifecycle.cancel(NOW))
    outcome = w.poll()
    assert outcome.delete and "cancel PUT answered 202" in outcome.note
    assert w.calls[-1] == ("PUT", FAL["cancel_url"], {})  # another origin: no task headers
    assert w.poll().note == "cancelled; stale poll"  # the message sent meanwhile does nothing


def test_headers_and_resolved_tokens_go_to_the_submit_origin_only() -> None:
    w = World(headers={"Authorization": "Bearer tok_abc"})
    w.resolve = lambda task: {"Authorization": "Bearer real"}
    other = {"id": "p1", "urls": {"get": "https://cdn.fake/p1"}}
    w.answers(SUBMIT, js(201, other))
    w.answers("https://cdn.fake/p1", js(200, {"status": "succeeded"}))
    w.run()
    w.poll()
    assert w.calls[-1] == ("GET", "https://cdn.fake/p1", {})
    assert w.task().status is S.COMPLETED


def test_a_deleted_token_fails_a_poll_to_the_submit_origin() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.run()

    def gone(task: Task) -> dict[str, str]:
        raise TokenUnavailable("Token tok_x not found (deleted?): header Authorization not sent, no request made")

    w.resolve = gone
    w.poll()
    assert w.task().status is S.FAILED and "tok_x not found" in (w.task().error or "")


def test_a_blocked_status_url_fails_the_task_with_the_guards_message() -> None:
    w = World()
    w.answers(SUBMIT, js(201, {"urls": {"get": "http://169.254.169.254/latest"}}))
    w.answers("http://169.254.169.254/latest", Attempt(None, error="destination not allowed", blocked=True))
    w.run()
    w.poll()
    assert (w.task().status, w.task().error) == (S.FAILED, "status poll: destination not allowed")


def test_a_placeholder_missing_from_the_submit_answer_fails_the_task() -> None:
    w = World()
    w.answers(SUBMIT, js(201, {"id": "p1"}))
    w.run()
    assert (w.task().status, w.task().error) == (S.FAILED, "pollConfig.urlTemplate: submit answer has no urls.get")
    assert w.sent == []


def test_a_submit_answered_4xx_fails_with_the_providers_message() -> None:
    w = World()
    w.answers(SUBMIT, js(422, {"detail": "Invalid version or not permitted"}))
    w.run()
    assert (w.task().status, w.task().error) == (S.FAILED, "submit answered 422: Invalid version or not permitted")


def test_a_submit_answered_non_json_fails() -> None:
    w = World()
    w.answers(SUBMIT, Attempt(200, body=b"ok"))
    w.run()
    assert (w.task().status, w.task().error) == (S.FAILED, "pollConfig.urlTemplate: submit answer is not JSON")


def test_a_status_poll_answered_404_fails() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(404, {"detail": "Not found."}))
    w.run()
    w.poll()
    assert (w.task().status, w.task().error) == (S.FAILED, "status poll answered 404: Not found.")


def test_a_poll_past_max_wait_time_times_out_with_the_last_poll_error() -> None:
    w = World(maxWaitTime=60)
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(503, {}))
    w.run()
    w.poll()
    w.now = NOW + timedelta(seconds=61)
    w.answers(CANCEL, js(200, {}))
    assert w.poll().note == "timeout; provider cancel POST answered 200"
    assert (w.task().status, w.task().error) == (S.TIMEOUT, "maxWaitTime of 60s exceeded: status poll: HTTP 503")
    assert [c[1] for c in w.calls][-2:] == [GET, CANCEL]  # no status poll past the deadline: the job's cancel


def test_a_poll_message_after_the_sweep_timed_the_task_out_cancels_the_job() -> None:
    w = World(maxWaitTime=60)
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(CANCEL, js(200, {}))
    w.run()
    w.repo.apply(w.task(), lifecycle.time_out(w.task(), NOW, w.task().claimToken))  # dispatch/sweep.py
    assert w.poll().note == "timeout; provider cancel POST answered 200"
    assert [c[1] for c in w.calls] == [SUBMIT, CANCEL]


def _before_the_poll_s_timeout(w: World, write: Callable[[Task], lifecycle.Transition]) -> None:
    """`write` lands between the poll's read of the task and its own move to `timeout`."""
    apply = w.repo.apply

    def racing(task: Task, transition: lifecycle.Transition) -> Task:
        if transition.target is S.TIMEOUT:
            w.repo.apply = apply  # type: ignore[method-assign]
            apply(w.task(), write(w.task()))
        return apply(task, transition)

    w.repo.apply = racing  # type: ignore[method-assign]


@pytest.mark.parametrize("elsewhere", ["sweep", "cancel"])
def test_a_poll_whose_timeout_loses_to_the_sweep_or_a_cancel_still_cancels_the_job(elsewhere: str) -> None:
    """The poll past maxWaitTime is the chain's last message: if the sweep's timeout or the client's
    cancel lands between its read and its write, no later message would cancel the job."""
    w = World(maxWaitTime=60)
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(CANCEL, js(200, {}))
    w.run()
    w.now = NOW + timedelta(seconds=61)
    _before_the_poll_s_timeout(w, lambda task: lifecycle.time_out(task, w.now, task.claimToken)
                               if elsewhere == "sweep" else lifecycle.cancel(w.now))

    outcome = w.poll()

    ended = "timeout" if elsewhere == "sweep" else "cancelled"
    assert w.task().status is (S.TIMEOUT if elsewhere == "sweep" else S.CANCELLED)
    assert outcome.delete and outcome.note == f"{ended}; provider cancel POST answered 200"
    assert [c[1] for c in w.calls] == [SUBMIT, CANCEL]


def test_a_large_final_json_is_stored_in_s3() -> None:
    w = World()
    big = {"status": "succeeded", "logs": "x" * (INLINE_RESULT_LIMIT + 1)}
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, js(200, big))
    w.run()
    w.poll()
    task = w.task()
    assert task.status is S.COMPLETED and task.result is None
    assert task.output is not None and task.output["filename"] == "result.json"
    assert json.loads(w.store.objects[task.output["key"]][0]) == big


def test_a_task_without_a_poller_is_a_plain_call() -> None:
    w = World()
    w.executor.poller = None
    w.answers(SUBMIT, js(201, REPLICATE))
    w.run()
    assert w.task().status is S.COMPLETED


def test_outputs_that_could_not_be_stored_are_copied_again_at_the_next_poll() -> None:
    """S3 down or the vault throttled while copying: the job is done at the provider, so the task
    does not complete without its files; the next poll finds it done again and copies again."""
    w = World(pollConfig={"intervalSeconds": 1})
    w.answers(SUBMIT, js(201, REPLICATE))
    final = {"id": "p1", "status": "succeeded", "output": ["https://files.fake/a.png"], "error": None}
    w.answers(GET, js(200, final))
    copy, failures = w.copy, [Busy("throttled")]

    def flaky(*args: Any) -> list[dict[str, Any]]:
        if failures:
            raise failures.pop()
        return copy(*args)

    w.executor.poller.copy_outputs = flaky  # type: ignore[union-attr]
    w.run()
    assert w.poll().delete
    assert w.task().status is S.POLLING and "copying the outputs" in (w.task().poll or {})["lastError"]
    assert w.poll().delete
    assert w.task().status is S.COMPLETED
    assert w.task().outputs == [{"key": "outputs/x/1-a.png", "source": "https://files.fake/a.png"}]
