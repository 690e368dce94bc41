"""One API request as data (what the sync and the asyncio clients both send), and its answer read:
the JSON body of a 2xx, else the `ApiError` the status calls for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import ApiError, api_error
from .retries import SAFE_METHODS, parse_retry_after

TERMINAL = frozenset({"completed", "failed", "timeout", "cancelled"})
MAX_LONG_POLL = 25.0  # the API's longest ?wait=
LONG_POLL_MARGIN = 15.0  # the read timeout of a long poll: its wait plus this


def new_idempotency_key() -> str:
    return f"thc-{uuid.uuid4()}"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    read_timeout: float | None = None  # a long poll's (its wait and a margin); else the client's

    @property
    def repeatable(self) -> bool:
        """May it be sent again after a failure? Idempotent methods, and a POST carrying an
        Idempotency-Key (the API answers a repeat with the first request's task)."""
        return self.method in SAFE_METHODS or "Idempotency-Key" in self.headers

    def timeout(self, default: httpx.Timeout) -> httpx.Timeout:
        if self.read_timeout is None:
            return default
        return httpx.Timeout(default.connect, read=self.read_timeout, write=default.write, pool=default.pool)


def error_message(response: httpx.Response) -> tuple[str, Any]:
    """The API's `error` (and the parsed body), else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], body
    return response.reason_phrase or f"HTTP {response.status_code}", body


def failure(response: httpx.Response) -> ApiError:
    message, body = error_message(response)
    return api_error(response.status_code, message, body, parse_retry_after(response.headers.get("Retry-After")))


def answer(response: httpx.Response) -> Any:
    if not response.is_success:
        raise failure(response)
    if not response.content:
        return {}
    return response.json()


def long_poll(task_id: str, wait: float) -> Call:
    wait = max(0.0, min(MAX_LONG_POLL, wait))
    if not wait:
        return Call("GET", f"/v1/tasks/{task_id}")
    return Call("GET", f"/v1/tasks/{task_id}", params={"wait": f"{wait:g}"}, read_timeout=wait + LONG_POLL_MARGIN)


def as_event(task: dict[str, Any]) -> dict[str, Any]:
    """A v1 task in the shape of a live event (notify/live.py live_message)."""
    event = {"task_id": task.get("id"), "status": task.get("status"), "progress": task.get("progress"),
             "timestamp": task.get("updatedAt") or task.get("createdAt")}
    for name in ("message", "name", "namespace", "error"):
        if task.get(name) is not None:
            event[name] = task[name]
    if task.get("status") == "completed":
        event["result"] = task.get("result")
    return event
