"""One attempt at a function task: call the registered function within a time budget.

The function runs in its own daemon thread (an async one on its own event loop there), so a
function that blocks, or never awaits, cannot hold the executor past its budget. The executor's
thread waits for it and, once per progress interval, writes the context's latest progress. Past
the budget the attempt is a retryable `timeout after Ns`: the context stops (its next update
raises TaskCancelled), an async function is cancelled at its next await, and a sync one that
never reports again runs on unobserved until it returns; whatever it does then is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from taskhook.model.errors import TaskhookError
from taskhook.model.json_depth import nested_deeper_than
from taskhook.model.limits import INLINE_RESULT_LIMIT, MAX_ERROR_LENGTH, MAX_JSON_DEPTH
from taskhook.model.task import Task
from taskhook.ports import OutputStore, ProgressStore
from taskhook.run.functions.context import TaskCancelled, TaskContext, TaskFailed
from taskhook.run.functions.registry import Registry

if TYPE_CHECKING:
    import requests

logger = logging.getLogger("taskhook.functions")


@dataclass(frozen=True)
class FunctionAttempt:
    """What one attempt produced. `lost`: the run no longer owns the task, record nothing."""

    result: Any = None
    error: str | None = None
    retryable: bool = False
    interrupted: bool = False  # stopped by the executor's own clock, not by the task's timeout
    lost: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.lost


def describe(exc: BaseException) -> str:
    """`<ExceptionType>: <message>`, what clients see of an exception (never a traceback)."""
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:MAX_ERROR_LENGTH]


class _LoopHandle:
    """Lets the executor's thread cancel an async function running on another thread's loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False

    async def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        with self._lock:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            cancelled = self._cancelled
        if cancelled:
            coroutine.close()
            raise asyncio.CancelledError()
        return await coroutine

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(task.cancel)


@dataclass
class _Box:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


def _encoded(value: Any) -> tuple[Any, str]:
    """The result as JSON data and text; TypeError/ValueError for what JSON cannot hold (or what
    nests past MAX_JSON_DEPTH, which a task cannot keep: every read of it would fail)."""
    if nested_deeper_than(value):
        raise ValueError(f"the result is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = to_jsonable_python(value)
    except PydanticSerializationError:
        raise TypeError(f"the result ({type(value).__name__}) is not JSON-serializable") from None
    try:
        return data, json.dumps(data, allow_nan=False)
    except ValueError:
        raise ValueError("the result holds NaN or Infinity, which JSON cannot represent") from None


@dataclass
class FunctionRunner:
    registry: Registry
    progress: ProgressStore | None = None
    outputs: OutputStore | None = None
    interval: float = 0.5
    # http(team): the session for outbound calls a function makes (guarded; the team's own connections)
    http: Callable[[str], requests.Session] | None = None
    monotonic: Callable[[], float] = time.monotonic

    def run(self, task: Task, claim_token: str, budget: float, interrupted_if_late: bool = False,
            ) -> tuple[FunctionAttempt, TaskContext]:
        context = TaskContext(task, claim_token, self.progress, self.outputs,
                              http=self.http(task.teamId) if self.http is not None else None)
        try:
            definition = self.registry.get(task.namespace or "", task.name or "")
            call = definition.prepare_call(context, task.args or {})
        except TaskhookError as exc:  # unregistered since it was created, or its arguments changed
            return FunctionAttempt(error=exc.message), context
        box, handle = _Box(), _LoopHandle()
        thread = threading.Thread(target=self._main, args=(call, box, handle, task.id),
                                  name=f"taskhook-function-{task.id}", daemon=True)
        thread.start()
        deadline = self.monotonic() + budget
        while not box.done.is_set():
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                context.stop(f"timeout after {budget:g}s")
                handle.cancel()
                return FunctionAttempt(error=f"timeout after {budget:g}s", retryable=True,
                                       interrupted=interrupted_if_late), context
            if box.done.wait(min(self.interval, remaining)):
                break
            context.flush()
            if context.stopped is not None:
                handle.cancel()
                return FunctionAttempt(lost=True), context
        return self._attempt(box, context), context

    @staticmethod
    def _main(call: Callable[[], Any], box: _Box, handle: _LoopHandle, task_id: str) -> None:
        try:
            value = call()
            if asyncio.iscoroutine(value):
                value = asyncio.run(handle.run(value))
            box.result = value
        except BaseException as exc:  # noqa: BLE001 - everything the function raises is its outcome
            box.error = exc
            if not isinstance(exc, (TaskCancelled, TaskFailed, asyncio.CancelledError)):
                logger.warning("function task %s raised", task_id, exc_info=exc)
        finally:
            box.done.set()

    def _attempt(self, box: _Box, context: TaskContext) -> FunctionAttempt:
        error = box.error
        if isinstance(error, (TaskCancelled, asyncio.CancelledError)) or context.stopped is not None:
            return FunctionAttempt(lost=True)
        if isinstance(error, TaskFailed):
            return FunctionAttempt(error=describe(error))
        if error is not None:
            return FunctionAttempt(error=describe(error), retryable=True)
        try:
            result, encoded = _encoded(box.result)
            if len(encoded) > INLINE_RESULT_LIMIT:
                if context.output is not None:
                    raise ValueError(f"the result is over {INLINE_RESULT_LIMIT // 1024} KB and the task "
                                     "already saved an output: put the data in the output file")
                context.save_output(encoded.encode("utf-8"), "application/json", "result.json")
                result = None
        except TaskCancelled:
            return FunctionAttempt(lost=True)
        except (TypeError, ValueError) as exc:
            return FunctionAttempt(error=describe(exc))
        return FunctionAttempt(result=result)
