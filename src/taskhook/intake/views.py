"""How each API family shows a task. One task model, three dialects:

- v1 (seed 002): `Task.public()`, camelCase; an output gets `output.downloadUrl`, and each copied
  file of a provider task `outputs[i].downloadUrl`.
- seed 000: snake_case details with `task_id`, `task_name`, `status`, `progress`, `result` and
  `download_url`.
- seed 003: `{task_id, status, progress, result, timestamp}` (plus `download_url` with an output).

In seeds 000 and 003, `download_url` is the function task's output, else a provider task's first
copied file (model/outputs.py DownloadLinks.url_for).

`download_url` is a presigned S3 URL, made by the caller (an adapter call) and passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

from taskhook.model.task import Task


def v1_task(task: Task, download_url: str | None = None,
            output_urls: Sequence[str | None] = (), with_attempts: bool = True) -> dict[str, Any]:
    """`download_url`: the function task's `output`; `output_urls`: one per entry of a provider
    task's `outputs`, in order (None for a file that was not copied). `with_attempts=False`: a list
    row, which shows `attemptsTotal` but not the history (up to 20 entries per task)."""
    view = task.public()
    if not with_attempts:
        view.pop("attempts", None)
    if download_url and "output" in view:
        view["output"] = {**view["output"], "downloadUrl": download_url}
    if "outputs" in view:
        view["outputs"] = [{**entry, "downloadUrl": url} if url else entry
                           for entry, url in zip_longest(view["outputs"], output_urls[:len(view["outputs"])])]
    return view


def seed000_task(task: Task, download_url: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task.id,
        "task_name": task.qualified_name,
        "kind": task.kind,
        "status": task.status.value,
        "progress": task.progress,
        "message": task.message,
        "result": task.result,
        "error": task.error,
        "download_url": download_url,
        "callback_url": task.callbackUrl,
        "created_at": task.createdAt,
        "started_at": task.startedAt,
        "completed_at": task.completedAt,
        "updated_at": task.updatedAt,
    }
    return view


def seed003_result(task: Task, download_url: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "task_id": task.id,
        "status": task.status.value,
        "progress": task.progress or 0,
        "result": task.result,
        "timestamp": task.updatedAt or task.createdAt,
    }
    if task.message is not None:
        view["message"] = task.message
    if task.error is not None:
        view["error"] = task.error
    if download_url:
        view["download_url"] = download_url
    return view
