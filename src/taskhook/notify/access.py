"""Who may watch what on the live feed (seed 003's WebSocket), and whether the credential that
opened a connection still holds.

One rule decides which task a connection may watch, for the single-task path at `$connect` and for
a `subscribe` message alike: a task of the connection's team and, for a client token, of its
client. Every refusal is the same 404 "Task not found", so that an answer never tells a task that
exists elsewhere from one that does not.

A revocation ends the connections it opened at once (LiveFeed.end_connections_of, through the
store and the management API, from whichever process revokes). In depth, the credential is read
again before a connection is trusted further: on every `subscribe` message, and before a push at
most every `ttl` seconds per credential and process (one read of the keys table's id index; a
push must not cost a read)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from taskhook.model.errors import (
    REVOKED_API_KEY,
    REVOKED_CLIENT_TOKEN,
    NotFound,
    TooManyConnections,
    Unauthorized,
    ValidationFailed,
)
from taskhook.model.limits import MAX_LIVE_CONNECTIONS_PER_TEAM
from taskhook.model.task import Task
from taskhook.notify.live import LiveFeed, Opener, client_topic, task_topic, team_topic
from taskhook.ports import CLIENT_TOKEN_KIND, ApiKeyRepository, ConnectionStore, TaskRepository

RECHECK_SECONDS = 5.0
# Subscribe messages one connection takes (each a row of the connections table); more: another connection.
MAX_SUBSCRIPTIONS = 100


def may_watch(task: Task | None, opener: Opener) -> bool:
    if task is None or task.teamId != opener.team_id:
        return False
    return opener.client_id is None or getattr(task, "clientId", None) == opener.client_id


def revoked_error(opener: Opener) -> Unauthorized:
    return Unauthorized(REVOKED_CLIENT_TOKEN if opener.client_id else REVOKED_API_KEY)


@dataclass
class CredentialCheck:
    """Whether the key or client token that opened a connection is still live, for its team and
    kind. A credential that holds is trusted for `ttl` seconds; a revoked one is remembered for
    good (a revocation is final). A credential not found holds but is not remembered: the
    connection was opened with it (found by its hash, a consistent read), so only the id index,
    eventually consistent on AWS, has not caught up; it is asked again at the next check."""

    keys: ApiKeyRepository
    ttl: float = RECHECK_SECONDS
    clock: Callable[[], float] = time.monotonic
    _verified: dict[Opener, float] = field(default_factory=dict)
    _revoked: set[str] = field(default_factory=set)

    def holds(self, opener: Opener, fresh: bool = False) -> bool:
        credential_id = opener.credential_id
        if not credential_id or credential_id in self._revoked:
            return False
        verified = self._verified.get(opener)
        if not fresh and verified is not None and self.clock() - verified < self.ttl:
            return True
        key = self.keys.find_by_id(credential_id)
        if key is None:
            self._verified.pop(opener, None)
            return True
        if key.revoked_at:
            self.mark_revoked(credential_id)
            return False
        if key.team_id != opener.team_id or (key.kind == CLIENT_TOKEN_KIND) != (opener.client_id is not None):
            self._verified.pop(opener, None)
            return False
        self._verified[opener] = self.clock()
        return True

    def mark_revoked(self, credential_id: str) -> None:
        self._revoked.add(credential_id)
        for opener in [o for o in self._verified if o.credential_id == credential_id]:
            del self._verified[opener]


@dataclass
class LiveAccess:
    """`$connect` and `subscribe`: what a connection is subscribed to, by the rule above."""

    tasks: TaskRepository
    connections: ConnectionStore
    credentials: CredentialCheck
    feed: LiveFeed
    # The team's rate limit (intake/rate_limit.py RateGate.check): a connect and a subscribe are
    # requests of the team like a REST one (they read and write); raises RateLimited.
    admit: Callable[[str], object] | None = None
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    max_connections: int = MAX_LIVE_CONNECTIONS_PER_TEAM  # a team's connections open at once

    def watchable(self, opener: Opener, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or not may_watch(task, opener):
            raise NotFound()
        return task

    def open(self, connection_id: str, opener: Opener, task_id: str | None) -> None:
        """A connection just authenticated as `opener`: one task, its client's or its team's."""
        if self.admit is not None:
            self.admit(opener.team_id)
        if task_id:
            topic = task_topic(self.watchable(opener, task_id).id)
        else:
            topic = client_topic(opener.client_id) if opener.client_id else team_topic(opener.team_id)
        # Check, then write: connects at the same instant can each pass (README, "WebSocket").
        if self.connections.open_count(opener.team_id, self.max_connections) >= self.max_connections:
            raise TooManyConnections(f"A team may hold at most {self.max_connections} live connections open: "
                                     "close one first")
        self.connections.add(opener.subscription(connection_id, topic))

    def subscribe(self, connection_id: str, task_id: str) -> None:
        """Add a task to an open connection: counted by the team's rate limit, its credential read
        again, then the same rule; at most `max_subscriptions` a connection."""
        opener = self.connections.opened_by(connection_id)
        if opener is None:
            raise Unauthorized("connection is not authenticated")
        if self.admit is not None:
            self.admit(opener.team_id)
        if not self.credentials.holds(opener, fresh=True):
            self.feed.end(connection_id)
            raise revoked_error(opener)
        subscription = opener.subscription(connection_id, task_topic(self.watchable(opener, task_id).id))
        if not self.connections.subscribe(subscription, self.max_subscriptions):
            raise ValidationFailed(f"A connection takes at most {self.max_subscriptions} subscribe messages: "
                                   "open another connection")
