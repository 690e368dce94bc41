"""Live monitoring (seed 003's WebSocket): who is subscribed to what, and what they are sent.

A connection subscribes to one topic: a task (`task#<id>`), every task of a client token
(`client#<clientId>`) or every task of its team (`team#<teamId>`). Each status, progress or
message change of a task is sent, as one JSON object, to every connection on its topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .task import Task


def task_topic(task_id: str) -> str:
    return f"task#{task_id}"


def client_topic(client_id: str) -> str:
    return f"client#{client_id}"


def team_topic(team_id: str) -> str:
    return f"team#{team_id}"


def topics_of(task: Task) -> list[str]:
    topics = [task_topic(task.id), team_topic(task.teamId)]
    client_id = getattr(task, "clientId", None)
    if client_id:
        topics.append(client_topic(client_id))
    return topics


def _watched(task: Task) -> tuple[Any, ...]:
    return (task.status, getattr(task, "progress", None), getattr(task, "message", None))


def live_change(old: Task | None, new: Task) -> bool:
    return old is None or _watched(old) != _watched(new)


def live_message(task: Task) -> dict[str, Any]:
    """What a subscriber receives: seed 003's result shape plus what changed."""
    out: dict[str, Any] = {
        "task_id": task.id,
        "status": task.status.value,
        "progress": getattr(task, "progress", None),
        "timestamp": task.updatedAt or task.createdAt,
    }
    for name in ("message", "name", "namespace", "error"):
        value = getattr(task, name, None)
        if value is not None:
            out[name] = value
    if task.status.value == "completed":
        out["result"] = task.result
    return out


@dataclass(frozen=True)
class Subscription:
    connection_id: str
    team_id: str
    topic: str


class ConnectionStore(Protocol):
    def add(self, subscription: Subscription) -> None: ...

    def remove(self, connection_id: str) -> None: ...

    def connections_for(self, topics: list[str]) -> list[str]: ...


class Pusher(Protocol):
    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        """Send; False when the connection is gone."""


@dataclass
class LiveFeed:
    connections: ConnectionStore
    pusher: Pusher

    def publish(self, task: Task) -> int:
        """Send the task's state to its subscribers; forget connections that went away."""
        sent = 0
        payload = live_message(task)
        for connection_id in dict.fromkeys(self.connections.connections_for(topics_of(task))):
            if self.pusher.push(connection_id, payload):
                sent += 1
            else:
                self.connections.remove(connection_id)
        return sent
