"""Live monitoring (seed 003's WebSocket): who is subscribed to what, and what they are sent.

A connection subscribes to one topic: a task (`task#<id>`), every task of a client token
(`client#<clientId>`) or every task of its team (`team#<teamId>`). Each status, progress or
message change of a task is sent, as one JSON object, to every connection on its topics that may
watch it (access.py): a connection opened with a client token only ever gets that client's tasks,
and one whose credential no longer holds is ended instead of pushed to."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskhook.model.change import Change
from taskhook.model.task import Task
from taskhook.ports import ApiKey, ConnectionStore, Pusher

if TYPE_CHECKING:
    from taskhook.notify.access import CredentialCheck

log = logging.getLogger(__name__)

PUSH_CONCURRENCY = 16  # management-API POSTs in flight at once (boto3 clients are thread-safe)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _map(function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """`function` over `items`, up to PUSH_CONCURRENCY at once; in this thread for one item."""
    global _pool
    work = list(items)
    if len(work) <= 1:
        return [function(item) for item in work]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(PUSH_CONCURRENCY, thread_name_prefix="live-push")
    return list(_pool.map(function, work))


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
class Opener:
    """What opened a connection: its team, the id of its API key or client token (never the
    secret) and, for a client token, its client: the only tasks the connection may watch."""

    team_id: str
    credential_id: str
    client_id: str | None = None

    def subscription(self, connection_id: str, topic: str) -> Subscription:
        return Subscription(connection_id, self.team_id, topic, self.credential_id, self.client_id)


@dataclass(frozen=True)
class Subscription:
    connection_id: str
    team_id: str
    topic: str
    credential_id: str = ""  # "": a row recorded before connections kept their credential
    client_id: str | None = None

    @property
    def opener(self) -> Opener:
        return Opener(self.team_id, self.credential_id, self.client_id)

    def may_receive(self, task: Task) -> bool:
        """A client token's connection is sent its client's tasks only, whatever its topics say."""
        return self.client_id is None or getattr(task, "clientId", None) == self.client_id


@dataclass
class LiveFeed:
    connections: ConnectionStore
    pusher: Pusher
    credentials: CredentialCheck | None = None  # None: no re-verification (unit tests of the fan-out)

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
        sending failed, with the error.

        The connections are sent to at once (PUSH_CONCURRENCY), each its messages in the batch's
        order: sent one after the other, one team's many connections held every other team's live
        messages back by seconds (this consumer serves them all)."""
        failed: dict[int, Exception] = {}
        gone: set[str] = set()
        by_team: dict[str, list[Subscription]] = {}
        queued: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # connection -> (task index, payload)
        for index, task in enumerate(tasks):
            try:
                if task.teamId not in by_team:
                    by_team[task.teamId] = self.connections.subscriptions_of_team(task.teamId)
                topics = set(topics_of(task))
                payload = live_message(task)
                targets = {s.connection_id: s for s in by_team[task.teamId]
                           if s.topic in topics and s.may_receive(task)}
                for connection_id, subscription in targets.items():
                    if connection_id in gone:
                        continue
                    if self.credentials is not None and not self.credentials.holds(subscription.opener):
                        gone.add(connection_id)
                        queued.pop(connection_id, None)  # nothing more to it, earlier tasks' messages included
                        self.end(connection_id)
                    else:
                        queued.setdefault(connection_id, []).append((index, payload))
            except Exception as exc:  # noqa: BLE001 - reported per task, so the caller retries that one
                log.warning("live push for task %s failed: %s", task.id, exc)
                failed[index] = exc
        sent = 0
        for connection_id, count, errors, gone_at in _map(self._send_all, queued.items()):
            sent += count
            for index, error in errors:
                log.warning("live push for task %s failed: %s", tasks[index].id, error)
                failed.setdefault(index, error)
            if gone_at is not None:
                try:
                    self.connections.remove(connection_id)
                except Exception as exc:  # noqa: BLE001 - as above: the task whose message found it gone is retried
                    failed.setdefault(gone_at, exc)
        return sent, sorted(failed.items(), key=lambda item: item[0])

    def _send_all(self, item: tuple[str, list[tuple[int, dict[str, Any]]]]
                  ) -> tuple[str, int, list[tuple[int, Exception]], int | None]:
        """One connection's messages in order: (connection, how many went out, the failures, the
        index of the task whose message found the connection gone). A push that fails stops the
        connection's later ones, reported failed with it: the retry sends them again, in order."""
        connection_id, messages = item
        for position, (index, payload) in enumerate(messages):
            try:
                if not self.pusher.push(connection_id, payload):
                    return connection_id, position, [], index
            except Exception as exc:  # noqa: BLE001 - reported per task
                return connection_id, position, [(later, exc) for later, _ in messages[position:]], None
        return connection_id, len(messages), [], None

    def end(self, connection_id: str) -> None:
        """Forget the connection, then close it (API Gateway's DeleteConnection). Forgotten first:
        nothing is pushed to it any more even when closing fails (it is then idle and refused)."""
        self.connections.remove(connection_id)
        try:
            self.pusher.disconnect(connection_id)
        except Exception as exc:  # noqa: BLE001 - forgotten already; the close is best effort
            log.warning("closing connection %s failed: %s", connection_id, exc)

    def end_connections_of(self, credential: ApiKey) -> int:
        """A revoked key or client token: end every connection it opened, wherever its socket is
        held (the store is shared; the close goes through the management API). Returns how many.
        Never raises: the revocation is already stored, and the push and subscribe checks end
        whatever this could not reach."""
        if self.credentials is not None:
            self.credentials.mark_revoked(credential.key_id)
        try:
            connection_ids = self.connections.opened_with(credential.team_id, credential.key_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("finding the connections of %s failed: %s", credential.key_id, exc)
            return 0
        for connection_id in connection_ids:
            self.end(connection_id)
        return len(connection_ids)
