"""The live feed (the WebSocket of notify/live.py): where to connect with a single-use ticket
(`POST /v1/live/tickets`; never the API key in a URL) and how its messages read.

Each message is `{"task_id", "status", "progress", "timestamp", "message"?, "name"?, "namespace"?,
"error"?, "result"? (completed)}`; `{"error": …}` answers a refused subscribe."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .calls import TERMINAL
from .retries import parse_retry_after

OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
HEARTBEAT = 10.0  # without a message for this long, the task is read over HTTP (nothing is missed)
RECONNECTS = 3  # consecutive failed connections before giving up


def websocket_url(ticket: dict[str, Any], task_id: str | None = None) -> str:
    query = {"ticket": ticket["ticket"]}
    if task_id is not None:
        query["task_id"] = task_id
    return f"{ticket['websocketUrl']}?{urlencode(query)}"


def parse(raw: str | bytes) -> dict[str, Any] | None:
    """A task event, or None for anything else (an error answer, a message of another shape)."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if isinstance(message, dict) and isinstance(message.get("task_id"), str) and "status" in message:
        return message
    return None


def fingerprint(event: dict[str, Any]) -> tuple[Any, ...]:
    return event.get("status"), event.get("progress"), event.get("message")


def ended(event: dict[str, Any]) -> bool:
    return event.get("status") in TERMINAL


def moment(event: dict[str, Any]) -> datetime | None:
    """When the event's state was written (its `timestamp`, the task's updatedAt); None if unknown."""
    value = event.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class Follow:
    """Which feed events `events()` yields: with a task id, that task's changes, each once (the read
    of the task after a reconnect repeats none) and never one older than the state last shown (the
    feed follows the table's stream, which can lag the read made after subscribing), until it ends;
    without one, every task event."""

    def __init__(self, task_id: str | None) -> None:
        self.task_id = task_id
        self._last: tuple[Any, ...] | None = None
        self._since: datetime | None = None  # when the state last shown was written

    def new(self, event: dict[str, Any] | None) -> dict[str, Any] | None:
        """`event` if it is to be yielded, else None."""
        if event is None or self.task_id is None:
            return event
        if event["task_id"] != self.task_id or fingerprint(event) == self._last:
            return None
        at = moment(event)
        if at is not None and self._since is not None and at < self._since:
            return None  # an older state than the one shown: the stream caught up late
        self._last, self._since = fingerprint(event), at
        return event

    def over(self, event: dict[str, Any]) -> bool:
        return self.task_id is not None and ended(event)


def refusal(response: Any) -> tuple[int, str, Any, float | None]:
    """A refused connect's answer (websockets' `InvalidStatus.response`): status, the server's
    `error` (or a general message), the parsed body, and `Retry-After` in seconds."""
    body: Any = None
    message = "the live feed refused the connection"
    with contextlib.suppress(TypeError, ValueError):  # not JSON: a proxy's page, say
        body = json.loads(bytes(response.body or b"").decode("utf-8"))
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    return response.status_code, message, body, parse_retry_after(response.headers.get("Retry-After"))
