"""What a running function task gets as its first argument: progress reports and its output file.

    await task.update(progress=40, message="resizing")   # or task.update_sync(...) in a sync function
    task.save_output(b"...", content_type="text/csv", filename="report.csv")

Progress is 0-100 and never goes down (a lower value is ignored). `update` only records the
latest state; the executor writes it to the task at most once per TASKHOOK_PROGRESS_INTERVAL
(0.5 s), coalescing whatever happened in between, with one conditional write that holds only
while this run still owns the task. The last state is written with the task's final status, so
nothing is lost by coalescing, and a task that reports a thousand times a second costs two writes
a second. When the run has lost the task (its time ran out, the maxWaitTime sweep timed it out,
another worker took it over), the next `update` or `save_output` raises TaskCancelled: the
function should let it propagate and stop.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from collections.abc import Awaitable, Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import Busy, Conflict, NotFound
from taskhook.model.limits import MAX_MESSAGE_LENGTH
from taskhook.model.outputs import output_key, safe_filename
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.ports import OutputStore, ProgressStore

if TYPE_CHECKING:
    import requests

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class TaskCancelled(BaseException):  # noqa: N818 - reads as what happened to the task
    """The run no longer owns its task: stop. A BaseException, like asyncio.CancelledError, so
    that a function's `except Exception` does not swallow it by accident."""


class TaskFailed(Exception):  # noqa: N818 - raised by task authors: "the task failed"
    """Raise it to fail the task at once, without the retries any other exception gets."""


class _Ready:
    """What `update()` returns: awaiting it is optional (the update is already recorded), so
    the same call works in async and in sync functions."""

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


def _progress_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("progress must be a number between 0 and 100")
    return max(0, min(100, int(value)))


def _check_status(status: Any) -> None:
    """Seed 003's tasks pass status=TaskStatus.PROCESSING while they run; that is the only status a
    running function can claim. It ends the task by returning (completed) or raising (failed)."""
    if status is None:
        return
    if str(getattr(status, "value", status)).lower() != TaskStatus.PROCESSING.value:
        raise ValueError(f"a running task can only report status 'processing', not {status!r}: "
                         "return to complete it, raise to fail it")


class TaskContext:
    def __init__(self, task: Task, claim_token: str, store: ProgressStore | None = None,
                 outputs: OutputStore | None = None, clock: Callable[[], datetime] = utcnow,
                 http: requests.Session | None = None) -> None:
        self.task_id = task.id
        self.team_id = task.teamId
        self.namespace = task.namespace
        self.name = task.name
        self.attempt = task.retryCount + 1
        self._token = claim_token
        self._store = store
        self._outputs = outputs
        self._clock = clock
        self._lock = threading.Lock()
        self._progress = task.progress or 0
        self._message = task.message
        self._written: tuple[int, str | None] = (self._progress, self._message)
        self._stopped: str | None = None
        self.output: dict[str, Any] | None = None
        # A requests session whose every connection passes the outbound guard (SSRF): what a
        # function uses to call out, so that it never reaches an address a target could not.
        self.http = http

    @property
    def progress(self) -> int:
        return self._progress

    @property
    def message(self) -> str | None:
        return self._message

    @property
    def stopped(self) -> str | None:
        """Why this run may no longer touch its task, or None while it may."""
        return self._stopped

    def update(self, progress: float | None = None, status: Any = None,
               message: str | None = None) -> Awaitable[None]:
        """Record progress (0-100, never lower than before) and/or a message. Await it in async
        functions (`await task.update(...)`); in sync ones calling it is enough."""
        self.update_sync(progress, status, message)
        return _Ready()

    def update_sync(self, progress: float | None = None, status: Any = None, message: str | None = None) -> None:
        self._check_running()
        _check_status(status)
        value = None if progress is None else _progress_value(progress)
        with self._lock:
            if value is not None:
                self._progress = max(self._progress, value)
            if message is not None:
                self._message = str(message)[:MAX_MESSAGE_LENGTH]

    def flush(self) -> bool:
        """Write the latest state if it changed since the last write (the executor calls this once
        per interval). True if it wrote. A lost claim stops the run; a throttled write waits."""
        with self._lock:
            if self._stopped is not None or self._store is None:
                return False
            state = (self._progress, self._message)
            if state == self._written:
                return False
        message = state[1] if state[1] != self._written[1] else None
        try:
            self._store.report_progress(self.task_id, self._token, state[0], message, iso(self._clock()))
        except (Conflict, NotFound) as exc:
            self.stop(f"the task is no longer this run's ({exc.message})")
            return False
        except Busy:
            return False
        self._written = state
        return True

    def stop(self, reason: str) -> None:
        """From now on every update and save_output raises TaskCancelled."""
        with self._lock:
            self._stopped = self._stopped or reason

    def _check_running(self) -> None:
        if self._stopped is not None:
            raise TaskCancelled(self._stopped)

    def save_output(self, data: bytes | bytearray | memoryview | str | os.PathLike[str],
                    content_type: str | None = None, filename: str | None = None) -> dict[str, Any]:
        """Store the task's output file in S3 (bytes, or the path of a file); a second call
        replaces the first. Its presigned `download_url` appears when the task completes."""
        self._check_running()
        if self._outputs is None:
            raise RuntimeError("this executor has no output store")
        path = None if isinstance(data, (bytes, bytearray, memoryview)) else Path(data)
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"no such output file: {path}")
        guessed_type = content_type or mimetypes.guess_type(filename or (path.name if path else ""))[0]
        name = safe_filename(filename or (path.name if path else ""), guessed_type)
        kind = content_type or guessed_type or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
        key = output_key(self.team_id, self.task_id, name)
        if path is not None:
            size = self._outputs.put_file(key, str(path), kind)
        else:
            payload = bytes(data)  # type: ignore[arg-type]
            self._outputs.put(key, payload, kind)
            size = len(payload)
        self._check_running()  # lost the task during the upload: the object stays unreferenced
        self.output = {"key": key, "contentType": kind, "size": size, "filename": name}
        return dict(self.output)
