"""The live feed (the WebSocket of notify/live.py): where to connect with a single-use ticket
(`POST /v1/live/tickets`; never the API key in a URL) and how its messages read.

Each message is `{"task_id", "status", "progress", "timestamp", "message"?, "name"?, "namespace"?,
"error"?, "result"? (completed)}`; `{"error": …}` answers a refused subscribe."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from .calls import TERMINAL

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
