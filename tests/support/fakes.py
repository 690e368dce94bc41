"""In-memory fakes of the ports, for unit tests of the domain (no AWS, no network)."""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from taskhook.model.dispatch import Dispatch
from taskhook.model.errors import Busy, Conflict, NotFound, Undecryptable
from taskhook.model.lanes import Lane
from taskhook.model.lifecycle import Transition
from taskhook.model.limits import MAX_TOKENS_PER_TEAM, SQS_MAX_DELAY
from taskhook.model.listing import ListPage, ListQuery, Position
from taskhook.model.plan import TeamPlan
from taskhook.model.rate import RateDecision
from taskhook.model.retention import DEFAULT_RETENTION_DAYS, expires_at
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task, deadline_of
from taskhook.model.tickets import LiveTicket
from taskhook.model.tokens import (
    TOKEN_NOT_FOUND,
    VaultToken,
    name_key,
    name_taken,
    too_many_tokens,
)
from taskhook.model.usage import DayUsage, Tally
from taskhook.notify.live import Opener, Subscription
from taskhook.notify.rules import Notification
from taskhook.notify.secrets import SigningSecret, StoredSecrets
from taskhook.ports import ApiKey

SQS_BATCH_SIZE = 10  # entries per SendMessageBatch
SQS_MAX_BATCH_BYTES = 1_048_576  # SQS's (and moto's) ceiling for one message, and for a batch's messages together


class InMemoryTaskRepository:
    def __init__(self, retention_days: Callable[[str], int] = lambda team_id: DEFAULT_RETENTION_DAYS) -> None:
        self._retention_days = retention_days
        self._rows: dict[str, Task] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def put_new(self, task: Task) -> None:
        with self._lock:
            if task.id in self._rows:
                raise Conflict("Task already exists")
            self._rows[task.id] = task.model_copy(deep=True)
            self.writes += 1

    def get(self, task_id: str) -> Task | None:
        row = self._rows.get(task_id)
        return row.model_copy(deep=True) if row else None

    def apply(self, task: Task, transition: Transition) -> Task:
        transition.check()
        with self._lock:
            row = self._rows.get(task.id)
            if row is None:
                raise NotFound()
            if row.status not in transition.sources:
                raise Conflict(f"Task is {row.status.value}")
            if any(getattr(row, name) != value for name, value in transition.expect.items()):
                raise Conflict("Task changed meanwhile")
            if transition.version is not None and row.version != transition.version:
                raise Conflict("Task changed meanwhile")
            data = row.model_dump()
            data.update(transition.changes)
            data["status"] = transition.target
            data["version"] = row.version + 1
            if transition.changes_status:
                data["statusVersion"] = data["version"]
            if transition.target in TERMINAL and data.get("completedAt"):
                data["expiresAt"] = expires_at(data["completedAt"], self._retention_days(row.teamId))
            stored = Task.model_validate(data)
            self._rows[task.id] = stored
            self.writes += 1
            return stored.model_copy(deep=True)

    def _matching(self, team_id: str, status: TaskStatus | None) -> list[Task]:
        return [r for r in self._rows.values() if r.teamId == team_id and (status is None or r.status == status)]

    def list_for_team(self, team_id: str, query: ListQuery) -> ListPage:
        rows = sorted((r for r in self._matching(team_id, query.status) if query.filters.matches(r)),
                      key=Position.of, reverse=query.descending)
        if query.after is not None:
            after = query.after
            rows = [r for r in rows if (Position.of(r) < after if query.descending else Position.of(r) > after)]
        page = rows[query.offset: query.offset + query.limit]
        return ListPage([r.model_copy(deep=True) for r in page], has_more=query.offset + query.limit < len(rows))

    def total(self, team_id: str, status: TaskStatus | None) -> int:
        """ports.TaskCounts, counted from the rows."""
        return len(self._matching(team_id, status))


    def delayed_due_before(self, moment: str) -> list[Task]:
        return sorted(
            (r.model_copy(deep=True) for r in self._rows.values()
             if r.status is TaskStatus.DELAYED and r.delayUntil and r.delayUntil <= moment),
            key=lambda r: r.delayUntil or "",
        )

    def started_past_deadline(self, moment: str) -> list[Task]:
        return [r.model_copy(deep=True) for r in self._rows.values()
                if (deadline := deadline_of(r)) is not None and deadline <= moment]

    def unfinished(self) -> Iterator[Task]:
        with self._lock:
            rows = [r for r in self._rows.values() if r.status not in TERMINAL]
        return (r.model_copy(deep=True) for r in rows)

    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None:
        with self._lock:
            row = self._rows.get(task_id)
            if row is None:
                raise NotFound()
            if row.status is not TaskStatus.PROCESSING or row.claimToken != claim_token \
                    or (row.progress is not None and row.progress > progress):
                raise Conflict(f"Task is {row.status.value}")
            changes: dict[str, Any] = {"progress": progress, "updatedAt": updated_at, "version": row.version + 1}
            if message is not None:
                changes["message"] = message
            self._rows[task_id] = row.model_copy(update=changes)
            self.writes += 1


class InMemoryObjectStore:
    """S3 stand-in: objects by key, and "presigned" URLs that name them."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (bytes(data), content_type)

    def put_file(self, key: str, path: str, content_type: str) -> int:
        with open(path, "rb") as handle:
            data = handle.read()
        self.objects[key] = (data, content_type)
        return len(data)

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """Names the key (quoted, as S3 does), the expiry and, like S3's response-content-disposition,
        the download name; the key need not exist yet (S3 signs without looking)."""
        params: dict[str, Any] = {"expires": expires_in}
        if filename:
            params["filename"] = filename
        return f"memory://{quote(key)}?{urlencode(params)}"


class InMemoryApiKeyRepository:
    def __init__(self) -> None:
        self._by_hash: dict[str, ApiKey] = {}

    def put(self, key_hash: str, key: ApiKey) -> None:
        self._by_hash[key_hash] = key

    def find_by_hash(self, key_hash: str, consistent: bool = False) -> ApiKey | None:
        return self._by_hash.get(key_hash)

    def find_by_id(self, key_id: str) -> ApiKey | None:
        return next((key for key in self._by_hash.values() if key.key_id == key_id), None)

    def revoke(self, key_id: str, revoked_at: str) -> ApiKey:
        for key_hash, key in self._by_hash.items():
            if key.key_id == key_id:
                revoked = replace(key, revoked_at=revoked_at)
                self._by_hash[key_hash] = revoked
                return revoked
        raise NotFound("API key not found")

    def list_for_team(self, team_id: str) -> list[ApiKey]:
        return [k for k in self._by_hash.values() if k.team_id == team_id]


class InMemoryTicketStore:
    """WebSocket tickets by hash; `take` removes under a lock, as the conditional delete does."""

    def __init__(self) -> None:
        self._by_hash: dict[str, LiveTicket] = {}
        self._lock = threading.Lock()

    def put(self, ticket_hash: str, ticket: LiveTicket) -> None:
        with self._lock:
            if ticket_hash in self._by_hash:
                raise Conflict("ticket exists")
            self._by_hash[ticket_hash] = ticket

    def take(self, ticket_hash: str) -> LiveTicket | None:
        with self._lock:
            return self._by_hash.pop(ticket_hash, None)


class InMemoryConnectionStore:
    """The WebSocket connections table: one subscription per (connection, topic), so adding the
    same pair again replaces it (team included); a subscription's credential is recorded once per
    (connection, credential) and every subscription of the connection in that team carries it
    (the lowest, should a connection have several). `lookups` lists the team of each
    subscriptions_of_team call, in order."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Subscription] = {}
        self._openers: dict[tuple[str, str, str], Opener] = {}  # (connection, credential, client)
        self._subscribed: dict[tuple[str, str, str], int] = {}  # subscribe calls taken, per opener row
        self.lookups: list[str] = []

    def subscribe(self, subscription: Subscription, limit: int) -> bool:
        opener_key = (subscription.connection_id, subscription.credential_id, subscription.client_id or "")
        if opener_key not in self._openers or self._subscribed.get(opener_key, 0) >= limit:
            return False
        self._subscribed[opener_key] = self._subscribed.get(opener_key, 0) + 1
        self.add(subscription)
        return True

    def add(self, subscription: Subscription) -> None:
        self._rows[(subscription.connection_id, subscription.topic)] = replace(
            subscription, credential_id="", client_id=None)
        if subscription.credential_id:
            key = (subscription.connection_id, subscription.credential_id, subscription.client_id or "")
            self._openers[key] = subscription.opener

    def remove(self, connection_id: str) -> None:
        """Drop every topic of the connection; an unknown connection is no error."""
        for key in [key for key in self._rows if key[0] == connection_id]:
            del self._rows[key]
        for opener_key in [key for key in self._openers if key[0] == connection_id]:
            del self._openers[opener_key]
            self._subscribed.pop(opener_key, None)

    def _opener(self, connection_id: str, team_id: str | None = None) -> Opener | None:
        found = sorted(key for key, opener in self._openers.items()
                       if key[0] == connection_id and team_id in (None, opener.team_id))
        return self._openers[found[0]] if found else None

    def opened_by(self, connection_id: str) -> Opener | None:
        return self._opener(connection_id)

    def opened_with(self, team_id: str, credential_id: str) -> list[str]:
        return sorted({key[0] for key, opener in self._openers.items()
                       if key[1] == credential_id and opener.team_id == team_id})

    def open_count(self, team_id: str, cap: int) -> int:
        """The team's connections with an opener (none here is ever stale)."""
        return len({key[0] for key, opener in self._openers.items() if opener.team_id == team_id})

    def team_of(self, connection_id: str) -> str | None:
        """The team of the connection's first subscription in topic order (the table's sort key);
        None for a connection with no subscription."""
        topics = sorted(topic for connection, topic in self._rows if connection == connection_id)
        return self._rows[(connection_id, topics[0])].team_id if topics else None

    def subscriptions_of_team(self, team_id: str) -> list[Subscription]:
        self.lookups.append(team_id)
        rows = [row for _, row in sorted(self._rows.items()) if row.team_id == team_id]
        return [self._with_opener(row) for row in rows]

    def _with_opener(self, row: Subscription) -> Subscription:
        opener = self._opener(row.connection_id, row.team_id)
        return replace(row, credential_id=opener.credential_id, client_id=opener.client_id) if opener else row


class InMemorySecretStore:
    """The Teams table's webhook signing secrets: each save replaces the team's list, only if the
    version it names is still the stored one (0: none yet), as DynamoDB's condition does."""

    def __init__(self) -> None:
        self._by_team: dict[str, StoredSecrets] = {}
        self._lock = threading.Lock()

    def load(self, team_id: str) -> StoredSecrets:
        stored = self._by_team.get(team_id, StoredSecrets([]))
        return StoredSecrets(list(stored.secrets), stored.version)

    def save(self, team_id: str, secrets: list[SigningSecret], seen: int = 0) -> int:
        with self._lock:
            if self._by_team.get(team_id, StoredSecrets([])).version != seen:
                raise Conflict()
            self._by_team[team_id] = StoredSecrets(list(secrets), seen + 1)
            return seen + 1


class InMemoryPlanStore:
    """The Teams table's `plan`: each team's stored plan, replaced whole by a save."""

    def __init__(self) -> None:
        self._by_team: dict[str, TeamPlan] = {}

    def load(self, team_id: str) -> TeamPlan | None:
        return self._by_team.get(team_id)

    def save(self, team_id: str, plan: TeamPlan) -> None:
        self._by_team[team_id] = plan


class InMemoryLeaseStore:
    """The Limits table's leases (LeaseStore): per key, lease id -> expiry; an expired lease frees
    its slot. `calls` counts acquire and release calls (each a DynamoDB write in the adapter)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        import time

        self._clock = clock or time.time
        self.leases: dict[str, dict[str, float]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (acquire|release, key, lease id)
        self._lock = threading.Lock()

    def acquire(self, key: str, lease_id: str, limit: int, expires_at: float) -> bool:
        with self._lock:
            self.calls.append(("acquire", key, lease_id))
            now = self._clock()
            live = {i: e for i, e in self.leases.get(key, {}).items() if e > now}
            if len(live) >= limit:
                return False
            live[lease_id] = expires_at
            self.leases[key] = live
            return True

    def release(self, key: str, lease_id: str) -> None:
        with self._lock:
            self.calls.append(("release", key, lease_id))
            self.leases.get(key, {}).pop(lease_id, None)

    def held(self, key: str) -> dict[str, float]:
        with self._lock:
            return dict(self.leases.get(key, {}))


class InMemoryRateLimiter:
    """The Limits table's token buckets (RateLimiter), with the adapter's arithmetic (model/gcra.py):
    per key, the stored `tat`. `calls` counts admit calls; `busy` makes every admit raise Busy, as the
    adapter does when DynamoDB throttles it."""

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        import time

        self._clock = clock or time.time_ns
        self.tats: dict[str, int] = {}
        self.caps: dict[str, int] = {}  # the capacity each key's tat was written under
        self.calls: list[tuple[str, float, int]] = []  # (key, rps, burst)
        self.busy = False
        self._lock = threading.Lock()

    def admit(self, key: str, rps: float, burst: int) -> RateDecision:
        from taskhook.model.errors import Busy
        from taskhook.model.gcra import Bucket, decide

        with self._lock:
            self.calls.append((key, rps, burst))
            if self.busy:
                raise Busy()
            bucket = Bucket(rps, burst)
            decision, new_tat = decide(bucket, self.tats.get(key), self._clock(),
                                       same_limit=self.caps.get(key) == bucket.capacity)
            if new_tat is not None:
                self.tats[key] = new_tat
                self.caps[key] = bucket.capacity
            return decision


class InMemoryCipher:
    """The Cipher port as KMS behaves: an opaque ciphertext (a random handle, never the plaintext)
    that only this cipher (this key) decrypts, and only with the context it was made with."""

    def __init__(self) -> None:
        self._sealed: dict[bytes, tuple[bytes, dict[str, str]]] = {}

    def encrypt(self, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        handle = secrets.token_bytes(32)
        self._sealed[handle] = (bytes(plaintext), dict(context))
        return handle

    def decrypt(self, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        plaintext, bound = self._sealed.get(bytes(ciphertext), (b"", None))
        if bound is None or bound != dict(context):
            raise Undecryptable()
        return plaintext


class InMemoryIdempotency:
    """The Idempotency port without AWS: results remembered per (scope, key), forever (Powertools
    keeps them 24 h)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[Any, str]] = {}

    def run_once(
        self, scope: str, key: str, fingerprint: Any, action: Callable[[], str]
    ) -> tuple[str, bool]:
        if (scope, key) in self._seen:
            seen_fingerprint, value = self._seen[(scope, key)]
            if seen_fingerprint != fingerprint:
                raise Conflict("Idempotency-Key was already used with a different request body")
            return value, True
        value = action()
        self._seen[(scope, key)] = (fingerprint, value)
        return value, False


class LaneUnavailable(Exception):
    """What the fake lanes raise where SQS's client would raise (a deleted queue, an outage)."""


class InMemoryTaskQueue:
    """The SQS lanes (DispatchQueue and TaskQueue): every Dispatch accepted, with its lane and
    delay, in the order sent. As SQS does, an entry whose delay is outside 0..900 s is refused
    (by itself in send_many). A lane in `broken_lanes` is unavailable, like a deleted queue:
    `send` raises, `send_many` returns the indexes of that lane's dispatches."""

    def __init__(self, broken_lanes: Iterable[Lane] = ()) -> None:
        self.sent: list[Dispatch] = []
        self.calls: list[list[Dispatch]] = []  # the dispatches of each send_many call
        self.broken_lanes = set(broken_lanes)

    def send(self, dispatch: Dispatch) -> None:
        if dispatch.lane in self.broken_lanes:
            raise LaneUnavailable(f"the {dispatch.lane.value} lane is unavailable")
        if not 0 <= dispatch.delay_seconds <= SQS_MAX_DELAY:
            raise LaneUnavailable(f"DelaySeconds {dispatch.delay_seconds} is invalid")
        self.sent.append(dispatch)

    def send_many(self, dispatches: list[Dispatch]) -> list[int]:
        self.calls.append(list(dispatches))
        failed: list[int] = []
        for index, dispatch in enumerate(dispatches):
            if dispatch.lane in self.broken_lanes or not 0 <= dispatch.delay_seconds <= SQS_MAX_DELAY:
                failed.append(index)
            else:
                self.sent.append(dispatch)
        return failed

    def on_lane(self, lane: Lane) -> list[Dispatch]:
        return [d for d in self.sent if d.lane is lane]


class InMemoryNotificationQueue:
    """The notifications FIFO queue: queued in order, once per notification id (SQS deduplicates
    on it for five minutes; the fake, for ever), in chunks of ten as SendMessageBatch takes them.
    A chunk SQS would refuse (its messages over 1 MiB together), or any chunk while `unavailable`,
    stops the send: that chunk and every later one are not queued, and their indexes returned."""

    def __init__(self, unavailable: bool = False) -> None:
        self.queued: list[Notification] = []
        self.calls: list[list[Notification]] = []  # the notifications of each send call
        self.unavailable = unavailable

    def send(self, notifications: list[Notification]) -> list[int]:
        self.calls.append(list(notifications))
        for start in range(0, len(notifications), SQS_BATCH_SIZE):
            chunk = notifications[start:start + SQS_BATCH_SIZE]
            if self.unavailable or sum(len(n.to_message().encode()) for n in chunk) > SQS_MAX_BATCH_BYTES:
                return list(range(start, len(notifications)))
            seen = {n.dedup_key for n in self.queued}
            for notification in chunk:
                if notification.dedup_key not in seen:
                    self.queued.append(notification)
                    seen.add(notification.dedup_key)
        return []

    def of_task(self, task_id: str) -> list[Notification]:
        return [n for n in self.queued if n.task_id == task_id]


class LoggedDelivery(NamedTuple):
    url: str
    status: str
    attempts: int
    error: str | None


class InMemoryDeliveryLog:
    """The delivery log on an InMemoryTaskRepository's rows, as DynamoNotificationLog keeps it on
    the table's: `notifications.<id>` set to the delivery's entry (replacing an earlier one), the
    row's version left alone (a bookkeeping write), nothing at all for a task that is gone.
    `entries` lists every record call, in order."""

    def __init__(self, repository: InMemoryTaskRepository | None = None) -> None:
        self.repository = repository if repository is not None else InMemoryTaskRepository()
        self.entries: list[LoggedDelivery] = []

    def record(self, notification: Notification, url: str, status: str, attempts: int, error: str | None) -> None:
        self.entries.append(LoggedDelivery(url, status, attempts, error))
        entry: dict[str, Any] = {
            "kind": notification.kind, "url": url, "status": status, "attempts": attempts,
            "sequence": notification.sequence, "taskStatus": notification.status,
            **({"lastError": error} if error else {}),
        }
        repository = self.repository
        with repository._lock:
            row = repository._rows.get(notification.task_id)
            if row is None:
                return
            notifications = {**(row.notifications or {}), notification.id: entry}
            repository._rows[row.id] = row.model_copy(update={"notifications": notifications})

    def requeue_failed(self, task_id: str, notification_id: str) -> None:
        repository = self.repository
        with repository._lock:
            row = repository._rows.get(task_id)
            if row is None:
                raise NotFound()
            entry = (row.notifications or {}).get(notification_id)
            if entry is None or entry.get("status") != "failed":
                raise Conflict("Only a failed notification can be resent")
            notifications = {**(row.notifications or {}), notification_id: {**entry, "status": "queued"}}
            repository._rows[row.id] = row.model_copy(update={"notifications": notifications})


class InMemoryPusher:
    """The API Gateway management API: every payload posted, by connection, in order. A
    connection in `gone` has gone away (API Gateway answers 410 GoneException): push returns
    False and delivers nothing. Any other connection id is taken to be open."""

    def __init__(self, gone: Iterable[str] = ()) -> None:
        self.gone = set(gone)
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.disconnected: list[str] = []  # closed by disconnect, in order

    def disconnect(self, connection_id: str) -> bool:
        if connection_id in self.gone:
            return False
        self.gone.add(connection_id)
        self.disconnected.append(connection_id)
        return True

    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.append((connection_id, copy.deepcopy(payload)))
        return True

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        return [payload for cid, payload in self.sent if cid == connection_id]


class InMemoryVaultStore:
    """The Vault table: tokens by (team, id), names unique per team (case-insensitive), a cap."""

    def __init__(self, cap: int = MAX_TOKENS_PER_TEAM) -> None:
        self._rows: dict[tuple[str, str], VaultToken] = {}
        self._lock = threading.Lock()
        self.cap = cap
        self.reads = 0

    def create(self, token: VaultToken) -> None:
        with self._lock:
            mine = [t for (team, _), t in self._rows.items() if team == token.team_id]
            if any(name_key(t.name) == name_key(token.name) for t in mine):
                raise name_taken(token.name)
            if len(mine) >= self.cap:
                raise too_many_tokens(self.cap)
            self._rows[(token.team_id, token.id)] = token

    def get(self, team_id: str, token_id: str) -> VaultToken | None:
        self.reads += 1
        return self._rows.get((team_id, token_id))

    def list_for_team(self, team_id: str) -> list[VaultToken]:
        return sorted((t for (team, _), t in self._rows.items() if team == team_id), key=lambda t: (t.created_at, t.id))

    def replace_value(self, team_id: str, token_id: str, sealed: bytes, preview: str, updated_at: str) -> VaultToken:
        with self._lock:
            token = self._rows.get((team_id, token_id))
            if token is None:
                raise NotFound(TOKEN_NOT_FOUND)
            token = replace(token, sealed=sealed, preview=preview, updated_at=updated_at)
            self._rows[(team_id, token_id)] = token
            return token

    def replace_hosts(self, team_id: str, token_id: str, hosts: tuple[str, ...] | None,
                      updated_at: str) -> VaultToken:
        with self._lock:
            token = self._rows.get((team_id, token_id))
            if token is None:
                raise NotFound(TOKEN_NOT_FOUND)
            token = replace(token, hosts=hosts, updated_at=updated_at)
            self._rows[(team_id, token_id)] = token
            return token

    def delete(self, team_id: str, token_id: str) -> VaultToken:
        with self._lock:
            token = self._rows.pop((team_id, token_id), None)
        if token is None:
            raise NotFound(TOKEN_NOT_FOUND)
        return token


class InMemoryTeamStats:
    """The TeamStats table: counts and usage added per token (a repeated token adds nothing, as
    DynamoDB's ClientRequestToken within 10 minutes); `unavailable` makes every add fail (Busy)."""

    def __init__(self, unavailable: bool = False) -> None:
        self.unavailable = unavailable
        self.count_rows: dict[str, dict[TaskStatus, int]] = {}
        self.days: dict[tuple[str, date], DayUsage] = {}
        self.minutes: dict[tuple[str, str], dict[str, int]] = {}
        self.tokens: list[str] = []

    def add(self, tally: Tally, token: str) -> None:
        if self.unavailable:
            raise Busy("team stats not written")
        if token in self.tokens:
            return
        self.tokens.append(token)
        for team, counts in tally.counts.items():
            row = self.count_rows.setdefault(team, {})
            for status, delta in counts.items():
                row[status] = row.get(status, 0) + delta
        for key, usage in tally.usage.items():
            self.days.setdefault(key, DayUsage()).add(usage)
        for key, finished in tally.finished.items():
            row = self.minutes.setdefault(key, {})
            for outcome, n in finished.items():
                row[outcome] = row.get(outcome, 0) + n

    def finished(self, team_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
        return {minute: dict(row) for (team, minute), row in self.minutes.items()
                if team == team_id and first <= minute <= last}

    def counts(self, team_id: str) -> dict[TaskStatus, int]:
        return dict(self.count_rows.get(team_id, {}))

    def total(self, team_id: str, status: TaskStatus | None) -> int:
        counts = self.counts(team_id)
        return max(0, counts.get(status, 0)) if status else sum(max(0, n) for n in counts.values())

    def usage(self, team_id: str, first: date, last: date) -> dict[date, DayUsage]:
        return {day: copy.copy(u) for (team, day), u in self.days.items() if team == team_id and first <= day <= last}

    def set_counts(self, team_id: str, counts: Mapping[TaskStatus, int]) -> None:
        self.count_rows[team_id] = dict(counts)

    def counted_teams(self) -> Iterator[str]:
        return iter(list(self.count_rows))
