"""Attacks on issue 14 (polling, provider outputs, callbacks) that found holes: each test first
reproduced the hole, then the fix made it pass."""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.intake.callbacks import parse_completion
from taskhook.model.attempt import Attempt
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_JSON_DEPTH
from taskhook.model.status import TaskStatus
from tests.unit.test_polling_executor import GET, REPLICATE, SUBMIT, World, js

S = TaskStatus
DEEP = b'{"status":"succeeded","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_a_deeply_nested_status_answer_is_a_poll_error_not_a_crash() -> None:
    # json.loads raises RecursionError (not a ValueError) on such a document: the record crashed,
    # was redelivered and crashed again until maxWaitTime, with nothing in the task to say why.
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    w.answers(GET, Attempt(200, headers={"content-type": "application/json"}, body=DEEP),
              js(200, {"status": "succeeded"}))
    w.run()
    outcome = w.poll()
    assert outcome.delete and w.task().status is S.POLLING
    assert "not JSON" in w.task().poll["lastError"]  # type: ignore[index]
    w.poll()
    assert w.task().status is S.COMPLETED


def test_a_deeply_nested_submit_answer_fails_the_task_instead_of_crashing() -> None:
    # The submit's message redelivered after such a crash would POST the job again.
    w = World()
    w.answers(SUBMIT, Attempt(201, headers={"content-type": "application/json"}, body=DEEP))
    outcome = w.run()
    assert outcome.delete
    assert w.task().status is S.FAILED and "not JSON" in (w.task().error or "")
    assert len(w.calls) == 1


def test_a_deeply_nested_error_answer_still_gives_the_task_an_error() -> None:
    # provider_message (the provider's words of a 4xx) decoded the body with the same hole.
    w = World()
    deep_error = b'{"detail":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    w.answers(SUBMIT, Attempt(422, headers={"content-type": "application/json"}, body=deep_error))
    outcome = w.run()
    assert outcome.delete
    task = w.task()
    assert task.status is S.FAILED and (task.error or "").startswith("submit answered 422: {\"detail\":[[[")


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_callback_result_nested_too_deep_is_a_400_and_nothing_is_stored() -> None:
    # A callback whose result was ~950 lists deep was stored, then every read of the task (its
    # GET and the team's list) answered 500: pydantic's serializer refuses that depth.
    with pytest.raises(ValidationFailed, match="result is nested deeper than"):
        parse_completion({"status": "completed", "result": _nested(MAX_JSON_DEPTH + 1)})
    assert parse_completion({"status": "completed", "result": _nested(MAX_JSON_DEPTH)}).status is S.COMPLETED


def test_a_provider_result_nested_too_deep_is_never_stored() -> None:
    w = World()
    w.answers(SUBMIT, js(201, REPLICATE))
    # The body as text: json.dumps of 950 levels may itself pass the recursion limit (in an xdist worker).
    deep = b'{"status": "succeeded", "output": ' + b"[" * 950 + b"]" * 950 + b"}"
    w.answers(GET, Attempt(200, headers={"content-type": "application/json"}, body=deep))
    w.run()
    assert w.poll().delete
    task = w.task()
    assert task.status is S.POLLING and task.result is None
    assert "nested deeper than" in task.poll["lastError"]  # type: ignore[index]
    task.public()  # still readable
