"""waitForCallback (docs/waiting.md): the executor sends a one-time callback URL and parks a task
answered 2xx as `waiting`; the URL (no key) or the team's key finishes it, once; the sweep times a
forgotten one out and cancel ends it. In memory: the executor, CallbackService, TaskService."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskhook.dispatch.sweep import Scheduler
from taskhook.intake.callbacks import (
    CALLBACK_NOT_FOUND,
    DEFAULT_FAILURE,
    CallbackService,
    Completion,
    parse_completion,
)
from taskhook.intake.tasks import TaskService
from taskhook.intake.validation import parse_create_request
from taskhook.model import callbacks
from taskhook.model.attempt import Attempt
from taskhook.model.clock import iso
from taskhook.model.errors import AccessDenied, Conflict, NotFound, PayloadTooLarge, ValidationFailed
from taskhook.model.limits import INLINE_RESULT_LIMIT
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.executor import NO_PUBLIC_URL, Executor
from tests.support.fakes import InMemoryTaskQueue
from tests.support.recording import RecordingRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
TEAM = "team-a"
TASK_ID = "0b5e2f7e-1c1d-4b8a-9f51-6c1a2e3d4f50"
PUBLIC = "https://api.example.com/"
PREFIX = f"https://api.example.com/v1/callbacks/{TASK_ID}/"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Target:
    """The fake target: records the headers of each call, answers in order (the last repeats)."""

    def __init__(self, *answers: Attempt) -> None:
        self.answers = list(answers) or [Attempt(202, body=b'{"accepted":true}')]
        self.headers: list[dict[str, str]] = []

    def __call__(self, task: Task, budget: float) -> Attempt:
        self.headers.append(dict(task.headers))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def url(self, call: int = -1) -> str:
        return self.headers[call][callbacks.CALLBACK_HEADER]

    def secret(self, call: int = -1) -> str:
        return self.url(call).rsplit("/", 1)[1]


class World:
    def __init__(self, *answers: Attempt, public_url: str = PUBLIC) -> None:
        self.repo = RecordingRepository()
        self.clock = Clock()
        self.target = Target(*answers)
        self.executor = Executor(self.repo, self.target, clock=self.clock, sleep=lambda s: None,
                                 rand=lambda: 0.5, public_url=public_url)
        self.callbacks = CallbackService(self.repo, clock=self.clock)
        self.tasks = TaskService(self.repo, clock=self.clock)

    def add(self, **fields: Any) -> Task:
        data: dict[str, Any] = {"id": TASK_ID, "teamId": TEAM, "status": S.PENDING,
                                "targetUrl": "https://target.example.com/jobs", "waitForCallback": True,
                                "maxWaitTime": 600, "createdAt": iso(NOW), "updatedAt": iso(NOW)}
        data.update(fields)
        task = Task.model_validate(data)
        self.repo.put_new(task)
        return task

    def run(self) -> str:
        return str(self.executor.run(TASK_ID, lambda: 300.0, lambda s: None).note)

    def task(self) -> Task:
        task = self.repo.get(TASK_ID)
        assert task is not None
        return task

    def waiting(self) -> str:
        """A task the target accepted: waiting; returns the secret of its callback URL."""
        self.add()
        self.run()
        assert self.task().status is S.WAITING
        return self.target.secret()


DONE = Completion(S.COMPLETED, {"answer": 42})


# ---- the executor ----------------------------------------------------------------------------

def test_a_2xx_answer_parks_the_task_waiting_with_the_hash_of_the_url_it_sent() -> None:
    world = World(Attempt(202, headers={"content-type": "application/json"}, body=b'{"job":"j1"}'))
    world.add()
    world.run()
    task = world.task()
    assert task.status is S.WAITING
    url = world.target.url()
    assert url.startswith(PREFIX) and callbacks.well_formed(TASK_ID, world.target.secret())
    assert task.callbackHash == hashlib.sha256(world.target.secret().encode()).hexdigest()
    assert task.result["statusCode"] == 202 and task.result["body"] == '{"job":"j1"}'
    assert task.claimToken is None and task.completedAt is None
    assert world.repo.moves == [(S.PENDING, S.PROCESSING), (S.PROCESSING, S.WAITING)]
    assert "callbackHash" not in task.public() and task.public()["waitForCallback"] is True


def test_a_4xx_answer_completes_the_task_as_for_any_task() -> None:
    world = World(Attempt(404, body=b"no"))
    world.add()
    world.run()
    assert world.task().status is S.COMPLETED and world.task().result["statusCode"] == 404


def test_each_attempt_sends_a_new_url_and_only_the_latest_one_counts() -> None:
    world = World(Attempt(503, error="HTTP 503"), Attempt(200, body=b"ok"))
    world.add()
    world.run()
    assert world.task().status is S.PENDING
    world.clock.now += timedelta(seconds=60)
    world.run()
    assert world.task().status is S.WAITING
    first, second = world.target.secret(0), world.target.secret(1)
    assert first != second
    with pytest.raises(NotFound, match=CALLBACK_NOT_FOUND):
        world.callbacks.complete_by_token(TASK_ID, first, DONE)
    assert world.callbacks.complete_by_token(TASK_ID, second, DONE).status is S.COMPLETED


def test_a_header_of_the_same_name_from_the_client_is_replaced() -> None:
    world = World()
    world.add(headers={"taskhook-callback-url": "https://evil.example.com/x", "X-Other": "1"})
    world.run()
    sent = world.target.headers[0]
    assert [k for k in sent if k.lower() == "taskhook-callback-url"] == [callbacks.CALLBACK_HEADER]
    assert sent[callbacks.CALLBACK_HEADER].startswith(PREFIX) and sent["X-Other"] == "1"


def test_without_a_public_url_the_task_fails_before_any_call() -> None:
    world = World(public_url="")
    world.add()
    world.run()
    assert world.task().status is S.FAILED and world.task().error == NO_PUBLIC_URL
    assert world.target.headers == []


def test_a_task_without_waitForCallback_gets_no_header_and_completes() -> None:
    world = World()
    world.add(waitForCallback=None)
    world.run()
    assert callbacks.CALLBACK_HEADER not in world.target.headers[0]
    assert world.task().status is S.COMPLETED and world.task().callbackHash is None


# ---- the callback URL --------------------------------------------------------------------------

def test_the_callback_completes_the_task_once_and_a_replay_is_409() -> None:
    world = World()
    secret = world.waiting()
    done = world.callbacks.complete_by_token(TASK_ID, secret, DONE)
    assert done.status is S.COMPLETED and done.result == {"answer": 42} and done.completedAt == iso(NOW)
    with pytest.raises(Conflict, match="Callback already used or task no longer waiting: status is completed"):
        world.callbacks.complete_by_token(TASK_ID, secret, Completion(S.FAILED, None, "late"))
    assert world.task().status is S.COMPLETED and world.task().result == {"answer": 42}


def test_a_failed_callback_fails_the_task_with_its_error_or_a_default() -> None:
    world = World()
    secret = world.waiting()
    failed = world.callbacks.complete_by_token(TASK_ID, secret, parse_completion({"status": "failed"}))
    assert failed.status is S.FAILED and failed.error == DEFAULT_FAILURE


@pytest.mark.parametrize("task_id, secret", [
    (TASK_ID, "A" * 43),  # a wrong secret of the right shape
    ("6f1c7a52-0000-4000-8000-000000000000", "A" * 43),  # no such task
    (TASK_ID, "short"),  # not a secret we make
    ("../../etc", "A" * 43),
])
def test_a_wrong_secret_and_an_unknown_task_get_the_same_404(task_id: str, secret: str) -> None:
    world = World()
    world.waiting()
    with pytest.raises(NotFound) as caught:
        world.callbacks.complete_by_token(task_id, secret, DONE)
    assert caught.value.message == CALLBACK_NOT_FOUND
    assert world.task().status is S.WAITING


def test_a_malformed_path_is_refused_without_reading_the_table() -> None:
    class NoReads(RecordingRepository):
        def get(self, task_id: str) -> Task | None:
            raise AssertionError("read")

    with pytest.raises(NotFound):
        CallbackService(NoReads()).complete_by_token(TASK_ID, "x" * 44, DONE)


def test_the_right_secret_before_the_2xx_is_recorded_is_409_not_waiting_yet() -> None:
    world = World()
    world.add()
    seen: list[Conflict] = []

    def target_calls_back_at_once(task: Task, budget: float) -> Attempt:
        secret = task.headers[callbacks.CALLBACK_HEADER].rsplit("/", 1)[1]
        try:
            world.callbacks.complete_by_token(TASK_ID, secret, DONE)
        except Conflict as exc:
            seen.append(exc)
        return Attempt(200, body=b"ok")

    world.executor.call = target_calls_back_at_once
    world.run()
    assert [e.message for e in seen] == ["Task is not waiting for a callback yet: status is processing; retry shortly"]
    assert world.task().status is S.WAITING


def test_a_task_that_timed_out_or_was_cancelled_answers_its_callback_409() -> None:
    world = World()
    secret = world.waiting()
    world.tasks.cancel(TEAM, TASK_ID)
    with pytest.raises(Conflict, match="no longer waiting: status is cancelled"):
        world.callbacks.complete_by_token(TASK_ID, secret, DONE)
    with pytest.raises(NotFound):  # a wrong secret still learns nothing
        world.callbacks.complete_by_token(TASK_ID, "B" * 43, DONE)


def test_a_function_task_has_no_callback() -> None:
    world = World()
    world.add(kind="function", targetUrl=None, waitForCallback=None, callbackHash=callbacks.hash_secret("C" * 43))
    with pytest.raises(NotFound):
        world.callbacks.complete_by_token(TASK_ID, "C" * 43, DONE)


# ---- POST /v1/tasks/{id}/complete ---------------------------------------------------------------

def test_the_team_completes_its_waiting_task_with_its_key() -> None:
    world = World()
    world.waiting()
    with pytest.raises(AccessDenied):
        world.callbacks.complete_by_key("team-b", TASK_ID, DONE)
    with pytest.raises(NotFound):
        world.callbacks.complete_by_key(TEAM, "missing", DONE)
    assert world.callbacks.complete_by_key(TEAM, TASK_ID, DONE).status is S.COMPLETED
    with pytest.raises(Conflict, match="Task is not waiting for a callback: status is completed"):
        world.callbacks.complete_by_key(TEAM, TASK_ID, DONE)


def test_complete_by_key_is_409_for_a_task_that_is_not_waiting() -> None:
    world = World()
    world.add()
    with pytest.raises(Conflict, match="status is pending"):
        world.callbacks.complete_by_key(TEAM, TASK_ID, DONE)


# ---- maxWaitTime and cancel -----------------------------------------------------------------------

def test_the_sweep_times_out_a_waiting_task_past_maxWaitTime() -> None:
    world = World()
    secret = world.waiting()
    sweep = Scheduler(world.repo, InMemoryTaskQueue(), clock=world.clock)
    world.clock.now = NOW + timedelta(seconds=599)
    assert sweep.sweep().timed_out == []
    world.clock.now = NOW + timedelta(seconds=601)
    assert sweep.sweep().timed_out == [TASK_ID]
    assert world.task().status is S.TIMEOUT and world.task().error == "maxWaitTime of 600s exceeded"
    with pytest.raises(Conflict, match="no longer waiting: status is timeout"):
        world.callbacks.complete_by_token(TASK_ID, secret, DONE)


def test_cancel_ends_a_waiting_task() -> None:
    world = World()
    world.waiting()
    assert world.tasks.cancel(TEAM, TASK_ID).status is S.CANCELLED
    assert world.repo.moves[-1] == (S.WAITING, S.CANCELLED)


def test_a_second_delivery_of_the_message_leaves_a_waiting_task_alone() -> None:
    world = World()
    world.waiting()
    assert world.run() == "waiting: not the executor's"
    assert len(world.target.headers) == 1


# ---- the body and the create field ------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ({}, "status is required"),
    ({"status": "done"}, "status must be one of: completed, failed"),
    ({"status": 1}, "status must be one of: completed, failed"),
    ({"status": "failed", "error": 5}, "error must be a string of at most 1000 characters"),
    ({"status": "failed", "error": "x" * 1001}, "error must be a string of at most 1000 characters"),
    ({"status": "completed", "extra": 1}, "Unknown field: extra"),
])
def test_a_bad_body_is_a_400_that_names_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_completion(body)
    assert caught.value.message == message


def test_a_result_over_the_inline_limit_is_a_413() -> None:
    with pytest.raises(PayloadTooLarge, match="result exceeds 64 KB"):
        parse_completion({"status": "completed", "result": "x" * INLINE_RESULT_LIMIT})


@pytest.mark.parametrize("extra, message", [
    ({"waitForCallback": "true"}, "waitForCallback must be a boolean"),
    ({"waitForCallback": 1}, "waitForCallback must be a boolean"),
    ({"waitForCallback": True, "provider": "replicate"},
     "waitForCallback cannot be combined with provider or pollConfig"),
    ({"waitForCallback": True, "pollConfig": {"urlTemplate": "https://x.example.com/{{id}}", "statusPath": "s",
                                              "doneValues": ["d"], "failValues": []}},
     "waitForCallback cannot be combined with provider or pollConfig"),
])
def test_create_validates_waitForCallback(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_create_request({"targetUrl": "https://t.example.com", **extra})
    assert caught.value.message == message


def test_create_keeps_waitForCallback() -> None:
    for value in (True, False):
        assert parse_create_request({"targetUrl": "https://t.example.com", "waitForCallback": value}).waitForCallback \
            is value


# ---- the public URL in the Chalice package ------------------------------------------------------------

def test_the_chalice_package_keeps_a_configured_public_url(tmp_path: Path) -> None:
    from infra.gateway_responses import CHALICE_API_URL, merge_template

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"environment_variables": {"TASKHOOK_PUBLIC_URL": ""}, "stages": {"dev": {}}}))
    merged = merge_template(config)["Resources"]
    assert {k: v["Properties"]["Environment"]["Variables"] for k, v in merged.items() if k != "RestAPI"} == {
        name: {"TASKHOOK_PUBLIC_URL": CHALICE_API_URL} for name in ("ExecuteHigh", "ExecuteNormal", "ExecuteLow")}
    config.write_text(json.dumps({"stages": {"dev": {"environment_variables": {
        "TASKHOOK_PUBLIC_URL": "https://api.example.com"}}}}))
    assert set(merge_template(config)["Resources"]) == {"RestAPI"}  # config.json's value stands
