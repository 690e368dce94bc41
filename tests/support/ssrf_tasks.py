"""A function task for the SSRF end-to-end tests (namespace `ssrf`): the built-in `fetch_url` download,
with a `url` that is NOT checked at creation. It stands for a host that resolved to a public address
when the task was created and resolves to a forbidden one when it runs: only the guard on the
connection stands between the task and the address."""

from __future__ import annotations

from typing import Any

from taskhook.authoring import TaskContext, function_task
from taskhook.run.functions.builtin.fetch_url import fetch_url


@function_task(namespace="ssrf", max_retries=2, retry_backoff="linear")
def fetch_unchecked(task: TaskContext, url: str) -> dict[str, Any]:
    """fetch_url's download of `url`, which intake did not check."""
    return fetch_url(task, url)
