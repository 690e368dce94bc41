"""Live monitoring (seed 003's WebSocket): who is subscribed to what, and what they are sent.

A connection subscribes to one topic: a task (`task#<id>`), every task of a client token
(`client#<clientId>`) or every task of its team (`team#<teamId>`). Each status, progress or
message change of a task is sent, as one JSON object, to every connection on its topics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from taskhook.model.change import Change
from taskhook.model.task import Task
from taskhook.ports import ConnectionStore, Pusher

log = logging.getLogger(__name__)


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


@dataclass
class LiveFeed:
    connections: ConnectionStore
    pusher: Pusher

    def consume(self, changes: list[Change]) -> list[int]:
        """The stream consumer: push the batch's status, progress and message changes."""
        watched = [i for i, c in enumerate(changes) if live_change(c.old, c.new)]
        if not watched:
            return []
        _, failures = self.publish_many([changes[i].new for i in watched])
        return [watched[j] for j, _ in failures]

    def publish_many(self, tasks: list[Task]) -> tuple[int, list[tuple[int, Exception]]]:
        """Send each task's state to its subscribers and forget connections that went away, with
        one subscriber lookup per team (not one per task and topic: most changes have no
        subscriber at all). Returns how many messages went out, and the index of each task whose
        sending failed, with the error."""
        sent, failed, gone = 0, [], set()
        by_team: dict[str, list[Subscription]] = {}
        for index, task in enumerate(tasks):
            try:
                if task.teamId not in by_team:
                    by_team[task.teamId] = self.connections.subscriptions_of_team(task.teamId)
                topics = set(topics_of(task))
                payload = live_message(task)
                targets = dict.fromkeys(s.connection_id for s in by_team[task.teamId] if s.topic in topics)
                for connection_id in targets:
                    if connection_id in gone:
                        continue
                    if self.pusher.push(connection_id, payload):
                        sent += 1
                    else:
                        gone.add(connection_id)
                        self.connections.remove(connection_id)
            except Exception as exc:  # noqa: BLE001 - reported per task, so the caller retries that one
                log.warning("live push for task %s failed: %s", task.id, exc)
                failed.append((index, exc))
        return sent, failed
