"""Function tasks that exist only for tests (namespace `testing`): the e2e stack lists this module in
TASKHOOK_TASK_MODULES, next to the built-in ones."""

from __future__ import annotations

import asyncio
import time

from taskhook.authoring import TaskContext, TaskFailed, function_task


@function_task(namespace="testing")
async def boom(task: TaskContext, message: str = "boom") -> None:
    """Reports some progress, then raises: the task fails with `ValueError: <message>`."""
    await task.update(progress=30, message="about to fail")
    raise ValueError(message)


@function_task(namespace="testing", max_retries=2, retry_backoff="linear")
def always_broken(task: TaskContext) -> None:
    """Raises on every attempt: retried twice (1 s, then 2 s later), then failed."""
    task.update_sync(progress=10 * task.attempt)
    raise RuntimeError(f"attempt {task.attempt} broke")


@function_task(namespace="testing")
def refuses(task: TaskContext, reason: str) -> None:
    """TaskFailed: failed at once, no retry."""
    raise TaskFailed(reason)


@function_task(namespace="testing", timeout=1, max_retries=1)
def sleeps_past_its_timeout(task: TaskContext, seconds: float = 3) -> str:
    """A sync function that never reports: its attempts are cut at 1 s, then it fails."""
    time.sleep(seconds)
    return "never recorded"


@function_task(namespace="testing", timeout=1, max_retries=0)
async def loops_forever(task: TaskContext) -> None:
    """Keeps reporting; cancelled at its timeout, then failed with `timeout after 1s`."""
    step = 0
    while True:
        step += 1
        await task.update(progress=min(step, 99))
        await asyncio.sleep(0.05)


@function_task(namespace="testing")
def writes_output(task: TaskContext, text: str, filename: str = "out.txt") -> dict[str, int]:
    """Saves `text` as the output file."""
    output = task.save_output(text.encode("utf-8"), content_type="text/plain", filename=filename)
    return {"size": output["size"]}
