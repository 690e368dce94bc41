"""Executor.run for tasks of kind "function": the registered function runs under the same claim,
retries, backoff and deadlines as an HTTP call, within its attempt's budget (in-memory repository,
a fake clock for the task's times, real threads for the function)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from taskhook.model.clock import iso
from taskhook.model.lifecycle import Transition
from taskhook.model.outcome import Outcome
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.executor import Executor
from taskhook.run.functions.context import TaskCancelled, TaskContext, TaskFailed
from taskhook.run.functions.registry import Registry
from taskhook.run.functions.runner import INLINE_RESULT_LIMIT, FunctionRunner, describe
from tests.support.fakes import InMemoryObjectStore, InMemoryTaskRepository

S = TaskStatus
NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
TEAM = "team-a"
INTERVAL = 0.02


class Recording(InMemoryTaskRepository):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[TaskStatus, TaskStatus]] = []
        self.progress_writes: list[int] = []

    def apply(self, task: Task, transition: Transition) -> Task:
        before = self._rows[task.id].status
        stored = super().apply(task, transition)
        self.moves.append((before, transition.target))
        return stored

    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None:
        super().report_progress(task_id, claim_token, progress, message, updated_at)
        self.progress_writes.append(progress)


class Harness:
    def __init__(self) -> None:
        self.registry = Registry()
        self.repo = Recording()
        self.outputs = InMemoryObjectStore()
        self.now = NOW
        self.runner = FunctionRunner(self.registry, progress=self.repo, outputs=self.outputs, interval=INTERVAL)
        self.executor = Executor(self.repo, call=self._no_http, clock=lambda: self.now, sleep=lambda s: None,
                                 rand=lambda: 0.5, functions=self.runner)
        self.holds: list[float] = []
        self.count = 0

    @staticmethod
    def _no_http(task: Task, budget: float) -> Any:
        raise AssertionError("a function task made an HTTP call")

    def add(self, namespace: str, function: str, args: dict[str, Any] | None = None, **fields: Any) -> str:
        self.count += 1
        definition = self.registry.get(namespace, function)
        data: dict[str, Any] = {
            "id": f"task-{self.count}", "teamId": TEAM, "kind": "function", "status": S.PENDING,
            "namespace": namespace, "name": function, "args": definition.stored_args(args or {}), "progress": 0,
            "timeout": definition.timeout, "maxRetries": definition.max_retries,
            "retryBackoff": definition.retry_backoff, "maxWaitTime": definition.max_wait_time,
            "createdAt": iso(self.now), "updatedAt": iso(self.now),
        }
        data.update(fields)
        self.repo.put_new(Task.model_validate(data))
        return str(data["id"])

    def run(self, task_id: str, time_left: float = 300.0) -> Outcome:
        return self.executor.run(task_id, lambda: time_left, self.holds.append)

    def stored(self, task_id: str) -> Task:
        task = self.repo.get(task_id)
        assert task is not None
        return task


@pytest.fixture
def h() -> Harness:
    return Harness()


class Person(BaseModel):
    name: str
    age: int


def test_an_async_function_completes_with_its_result_and_progress_100(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    async def greet(task: TaskContext, person: Person) -> str:
        await task.update(progress=50, message="thinking")
        await asyncio.sleep(0)
        return f"hello {person.name}, {person.age}"

    task_id = h.add("ex", "greet", {"name": "Matt", "age": 25})  # a lone model parameter is the body
    outcome = h.run(task_id)

    assert outcome == Outcome(delete=True, note="completed")
    task = h.stored(task_id)
    assert (task.status, task.result, task.progress, task.message, task.error) == (
        S.COMPLETED, "hello Matt, 25", 100, "thinking", None)
    assert task.claimToken is None and task.completedAt
    assert h.repo.moves == [(S.PENDING, S.PROCESSING), (S.PROCESSING, S.COMPLETED)]


def test_a_sync_function_returns_any_json(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def numbers(task: TaskContext, n: int) -> dict[str, Any]:
        return {"squares": [i * i for i in range(n)], "when": NOW}  # a datetime becomes its ISO text

    task_id = h.add("ex", "numbers", {"n": 4})
    h.run(task_id)
    assert h.stored(task_id).result == {"squares": [0, 1, 4, 9], "when": "2024-01-15T10:30:00Z"}


def test_progress_is_visible_while_the_function_runs(h: Harness) -> None:
    release = threading.Event()

    @h.registry.task(namespace="ex")
    def waits(task: TaskContext) -> str:
        task.update_sync(progress=40, message="waiting")
        release.wait(5)
        return "done"

    task_id = h.add("ex", "waits")
    worker = threading.Thread(target=h.run, args=(task_id,))
    worker.start()
    deadline = time.monotonic() + 5
    while h.stored(task_id).progress != 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    mid = h.stored(task_id)
    release.set()
    worker.join(5)
    assert (mid.status, mid.progress, mid.message) == (S.PROCESSING, 40, "waiting")
    assert h.stored(task_id).status is S.COMPLETED


def test_a_chatty_function_writes_at_most_once_per_interval(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def chatty(task: TaskContext) -> None:
        end = time.monotonic() + 0.3
        step = 0
        while time.monotonic() < end:
            step += 1
            task.update_sync(progress=min(99, step // 100), message=f"step {step}")

    task_id = h.add("ex", "chatty")
    started = time.monotonic()
    h.run(task_id)
    elapsed = time.monotonic() - started
    assert len(h.repo.progress_writes) <= elapsed / INTERVAL + 1
    assert h.repo.progress_writes == sorted(h.repo.progress_writes)  # and never backwards
    assert h.stored(task_id).progress == 100


def test_an_exception_is_retried_with_backoff_then_fails_with_type_and_message(h: Harness) -> None:
    @h.registry.task(namespace="ex", max_retries=2, retry_backoff="linear")
    def broken(task: TaskContext) -> None:
        task.update_sync(progress=20 * task.attempt)
        raise ValueError(f"attempt {task.attempt} broke")

    task_id = h.add("ex", "broken")
    first = h.run(task_id)
    assert (first.delete, first.redeliver_after) == (False, 1)  # linear: 1 s (+/-20 %, here 0)
    assert (h.stored(task_id).status, h.stored(task_id).retryCount) == (S.PENDING, 1)
    assert h.stored(task_id).error == "ValueError: attempt 1 broke"
    h.now += timedelta(seconds=1)  # SQS redelivers after the backoff
    second = h.run(task_id)
    assert (second.delete, second.redeliver_after) == (False, 2)
    h.now += timedelta(seconds=2)
    third = h.run(task_id)
    assert third == Outcome(delete=True, note="failed")
    task = h.stored(task_id)
    assert (task.status, task.retryCount, task.error, task.progress) == (S.FAILED, 2, "ValueError: attempt 3 broke", 60)


def test_task_failed_is_not_retried(h: Harness) -> None:
    @h.registry.task(namespace="ex", max_retries=5)
    def refuses(task: TaskContext) -> None:
        raise TaskFailed("the input file is empty")

    task_id = h.add("ex", "refuses")
    assert h.run(task_id) == Outcome(delete=True, note="failed")
    assert (h.stored(task_id).error, h.stored(task_id).retryCount) == ("TaskFailed: the input file is empty", 0)


def test_a_sync_function_past_its_timeout_is_cut_and_stopped(h: Harness) -> None:
    seen: list[str] = []
    finished = threading.Event()

    @h.registry.task(namespace="ex", timeout=1, max_retries=0)
    def slow(task: TaskContext) -> str:
        time.sleep(0.4)
        try:
            task.update_sync(progress=90)
        except TaskCancelled as exc:
            seen.append(str(exc))
        finally:
            finished.set()
        return "too late"

    task_id = h.add("ex", "slow", timeout=0.2)
    started = time.monotonic()
    assert h.run(task_id) == Outcome(delete=True, note="failed")
    assert time.monotonic() - started < 0.4  # the executor did not wait for the function
    assert h.stored(task_id).error == "timeout after 0.2s"
    finished.wait(2)
    assert seen == ["timeout after 0.2s"]  # the function learnt it at its next update
    assert h.stored(task_id).result is None and h.stored(task_id).progress == 0


def test_an_async_function_past_its_timeout_is_cancelled(h: Harness) -> None:
    cancelled = threading.Event()

    @h.registry.task(namespace="ex", max_retries=1)
    async def forever(task: TaskContext) -> None:
        try:
            while True:
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task_id = h.add("ex", "forever", timeout=0.2)
    outcome = h.run(task_id)
    assert (outcome.delete, h.stored(task_id).status, h.stored(task_id).error) == (
        False, S.PENDING, "timeout after 0.2s")
    assert cancelled.wait(2)


def test_an_async_function_that_never_awaits_is_still_cut(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    async def hogs(task: TaskContext) -> None:
        time.sleep(0.5)  # blocks its own loop, not the executor's

    task_id = h.add("ex", "hogs", timeout=0.1)
    started = time.monotonic()
    h.run(task_id)
    assert time.monotonic() - started < 0.4
    assert h.stored(task_id).error == "timeout after 0.1s"


def test_running_out_of_invocation_time_is_not_the_tasks_fault(h: Harness) -> None:
    @h.registry.task(namespace="ex", max_retries=0)
    def long(task: TaskContext) -> None:
        task.update_sync(progress=10)
        time.sleep(2)

    task_id = h.add("ex", "long")
    outcome = h.run(task_id, time_left=3.0)  # budget: 1 s, not the task's 300 s
    assert outcome.delete is False and outcome.redeliver_after == 1
    assert "interrupted" in outcome.note
    task = h.stored(task_id)
    assert (task.status, task.retryCount, task.error) == (S.PENDING, 0, "timeout after 1s")
    assert h.holds == [1 + 30.0]


def test_past_max_wait_time_a_failure_becomes_timeout(h: Harness) -> None:
    @h.registry.task(namespace="ex", max_retries=3, max_wait_time=10)
    def slow_then_broken(task: TaskContext) -> None:
        h.now += timedelta(seconds=11)
        raise RuntimeError("nope")

    task_id = h.add("ex", "slow_then_broken")
    assert h.run(task_id) == Outcome(delete=True, note="timeout")
    assert h.stored(task_id).error == "maxWaitTime of 10s exceeded: RuntimeError: nope"


def test_losing_the_claim_mid_run_records_nothing(h: Harness) -> None:
    stopped = threading.Event()
    swept = threading.Event()

    @h.registry.task(namespace="ex")
    def long(task: TaskContext) -> str:
        swept.wait(5)
        try:
            while True:
                task.update_sync(progress=50)
                time.sleep(0.01)
        except TaskCancelled:
            stopped.set()
            raise

    task_id = h.add("ex", "long")

    def sweep() -> None:  # the maxWaitTime sweep times the task out while it runs
        deadline = time.monotonic() + 5
        while h.stored(task_id).status is not S.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.005)
        task = h.stored(task_id)
        h.repo.apply(task, Transition(S.TIMEOUT, {"claimToken": None, "error": "maxWaitTime"},
                                      from_=frozenset({S.PROCESSING})))
        swept.set()

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    outcome = h.run(task_id)
    sweeper.join()
    assert outcome == Outcome(delete=True, note="lost the claim while the function ran")
    assert stopped.wait(2)
    assert (h.stored(task_id).status, h.stored(task_id).error) == (S.TIMEOUT, "maxWaitTime")


def test_an_output_is_recorded_on_completion(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def report(task: TaskContext) -> str:
        task.save_output(b"id,status\n1,ok\n", content_type="text/csv", filename="report.csv")
        return "1 row"

    task_id = h.add("ex", "report")
    h.run(task_id)
    task = h.stored(task_id)
    assert task.output == {"key": f"outputs/{TEAM}/{task_id}/report.csv", "contentType": "text/csv",
                           "size": 15, "filename": "report.csv"}
    assert task.public()["output"] == {"filename": "report.csv", "contentType": "text/csv", "size": 15}
    assert h.outputs.objects[task.output["key"]][0] == b"id,status\n1,ok\n"


def test_a_large_result_becomes_the_output_file(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def big() -> list[str]:
        return ["x" * 1000] * (INLINE_RESULT_LIMIT // 1000 + 1)

    task_id = h.add("ex", "big")
    h.run(task_id)
    task = h.stored(task_id)
    assert task.status is S.COMPLETED and task.result is None
    assert task.output is not None and task.output["filename"] == "result.json"


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("value, error", [
    (object(), "TypeError: the result (object) is not JSON-serializable"),
    (float("nan"), "ValueError: the result holds NaN or Infinity, which JSON cannot represent"),
    (_nested(101), "ValueError: the result is nested deeper than 100 levels"),
    (_nested(400), "ValueError: the result is nested deeper than 100 levels"),
])
def test_a_result_that_is_not_json_fails_the_task(h: Harness, value: Any, error: str) -> None:
    @h.registry.task(namespace="ex", name="odd", max_retries=3)
    def odd() -> Any:
        return value

    task_id = h.add("ex", "odd")
    h.run(task_id)
    assert (h.stored(task_id).status, h.stored(task_id).error) == (S.FAILED, error)


def test_a_task_whose_function_is_gone_fails(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def exists() -> None: ...

    task_id = h.add("ex", "exists", name="vanished")
    assert h.run(task_id) == Outcome(delete=True, note="failed")
    assert h.stored(task_id).error == "Unknown task ex.vanished. Registered tasks: ex.exists"


def test_an_executor_without_a_function_runner_fails_function_tasks(h: Harness) -> None:
    @h.registry.task(namespace="ex")
    def exists() -> None: ...

    task_id = h.add("ex", "exists")
    executor = Executor(h.repo, call=h._no_http, clock=lambda: h.now)
    assert executor.run(task_id, lambda: 300, lambda s: None) == Outcome(delete=True, note="failed")
    assert h.stored(task_id).error == "this executor runs no function tasks"


def test_describe_never_shows_a_traceback() -> None:
    assert describe(ValueError("bad\nvalue")) == "ValueError: bad\nvalue"
    assert describe(KeyError()) == "KeyError"
    assert len(describe(RuntimeError("x" * 5000))) == 1000
