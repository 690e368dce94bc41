"""Every interface the stages need from the outside world (adapters/ implements each; tests/support/
fakes.py has one in-memory fake of each)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: importing the ports (functions/auth.py does) builds no pydantic model
    from datetime import date

    from taskhook.model.change import Change
    from taskhook.model.dispatch import Dispatch
    from taskhook.model.lifecycle import Transition
    from taskhook.model.listing import ListPage, ListQuery
    from taskhook.model.plan import TeamPlan
    from taskhook.model.rate import RateDecision
    from taskhook.model.status import TaskStatus
    from taskhook.model.task import Task
    from taskhook.model.tickets import LiveTicket
    from taskhook.model.tokens import VaultToken
    from taskhook.model.usage import DayUsage, Tally
    from taskhook.notify.live import Opener, Subscription
    from taskhook.notify.rules import Notification
    from taskhook.notify.secrets import SigningSecret, StoredSecrets


class TaskRepository(Protocol):
    def put_new(self, task: Task) -> None:
        """Store a task that must not exist yet (raises Conflict if it does)."""

    def get(self, task_id: str) -> Task | None: ...

    def apply(self, task: Task, transition: Transition) -> Task:
        """One conditional write of `transition` to `task`'s row (model/lifecycle.py): only if the
        stored status is one of `transition.sources`, each `expect`ed field holds its value (None:
        absent) and, when given, the version matches; the row's version goes up by one. Raises
        IllegalTransition (before writing) for a move the lifecycle forbids or an unknown field,
        Conflict when the condition fails, NotFound if the row is gone. Returns the stored task."""

    def list_for_team(self, team_id: str, query: ListQuery) -> ListPage:
        """One page of a team's tasks, ordered by (createdAt, id) as the query asks, after its
        `after` position if it has one, and whether more rows follow. Never reads every
        matching task: the total is TaskCounts' answer."""

    def delayed_due_before(self, moment: str) -> list[Task]:
        """Delayed tasks whose delayUntil is at or before `moment` (the sparse delayed index)."""

    def started_past_deadline(self, moment: str) -> list[Task]:
        """Started, unfinished tasks whose maxWaitTime deadline is at or before `moment`."""

    def unfinished(self) -> Iterator[Task]:
        """Every task whose status is not final (model/status.py TERMINAL), whole, page by page.
        A SCAN of the whole table (one filtered, paginated Scan on DynamoDB): for the local
        stack's restart only (infra/local_stack.py, dispatch/recovery.py), never on a request path."""

    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None:
        """One conditional write of a running function task's progress (and message, unless None):
        only while the task is `processing` under `claim_token` and its stored progress is not
        above `progress`. Raises Conflict otherwise (the claim was lost: timeout, takeover),
        NotFound if the row is gone. Not a status transition: the status stays `processing`."""


class TaskCounts(Protocol):
    """How many tasks a team has (`pagination.total`), kept apart from the rows so that a list
    never counts them by reading them (the TeamStats counters maintained from the stream)."""

    def total(self, team_id: str, status: TaskStatus | None) -> int:
        """The team's tasks in `status` (None: all of them)."""


API_KEY_KIND = "api"
CLIENT_TOKEN_KIND = "client"  # noqa: S105 - a kind, not a secret
# What an API key may do: "admin" manages the team (keys, client tokens, the webhook secret, the
# vault, the limits) and its tasks; "tasks" only the tasks. A key stored before scopes existed has
# none and could already do everything: it reads as "admin", so an upgrade locks nobody out.
ADMIN_SCOPE = "admin"
TASKS_SCOPE = "tasks"
SCOPES = (ADMIN_SCOPE, TASKS_SCOPE)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    team_id: str
    name: str
    created_at: str
    revoked_at: str | None = None
    kind: str = API_KEY_KIND  # a Bearer key; CLIENT_TOKEN_KIND: a client token (seed 003)
    scope: str = ADMIN_SCOPE  # an API key's (SCOPES); a client token has none that counts


class DestinationPolicy(Protocol):
    def check_url(self, url: str, field: str = "targetUrl", strict_dns: bool = False) -> None:
        """Raise BlockedTarget unless `url` may be called: its scheme, and every address its host
        resolves to (adapters/http.py's OutboundPolicy; the same check guards each connection)."""


class ApiKeyRepository(Protocol):
    def put(self, key_hash: str, key: ApiKey) -> None: ...

    def find_by_hash(self, key_hash: str, consistent: bool = False) -> ApiKey | None:
        """The key with this hash, revoked or not; `consistent`: a strongly consistent read."""

    def find_by_id(self, key_id: str) -> ApiKey | None:
        """The key (or client token) with this id, revoked or not; None for an unknown id."""

    def revoke(self, key_id: str, revoked_at: str) -> ApiKey:
        """Mark the key revoked (raises NotFound for an unknown key id)."""

    def list_for_team(self, team_id: str) -> list[ApiKey]: ...


class TicketStore(Protocol):
    """WebSocket tickets (model/tickets.py), each stored under its hash only."""

    def put(self, ticket_hash: str, ticket: LiveTicket) -> None: ...

    def take(self, ticket_hash: str) -> LiveTicket | None:
        """The ticket stored under `ticket_hash`, removed in the same atomic step (of two takes at
        once, one gets it); None when there is none (never issued, or taken already)."""


class Idempotency(Protocol):
    def run_once(
        self, scope: str, key: str, fingerprint: Any, action: Callable[[], str]
    ) -> tuple[str, bool]:
        """Run `action` once per (scope, key) and remember its result; a repeat returns
        (result, True); the same key with a different fingerprint raises Conflict."""

# ---- plans and limits (shared by intake's rate limit and run's shares) -------------------------


class PlanStore(Protocol):
    """Each team's plan as the operator set it (model/plan.py; the Teams table's `plan`)."""

    def load(self, team_id: str) -> TeamPlan | None:
        """The stored plan (values unset are None), or None when the team has none."""

    def save(self, team_id: str, plan: TeamPlan) -> None: ...


class RateLimiter(Protocol):
    """A token bucket per key (a team's API requests; a team's calls to one host) whose state is
    shared by every process (DynamoDB), so the limit holds across Lambda containers."""

    def admit(self, key: str, rps: float, burst: int) -> RateDecision:
        """Take one token from `key`'s bucket if there is one; the decision says how many remain,
        when the bucket is full again and, when refused, when one will be free."""


class LeaseStore(Protocol):
    """Counted, expiring slots per key (a team's executor share; calls in flight to one host),
    shared by every process. A holder that crashes loses its slot when its lease expires."""

    def acquire(self, key: str, lease_id: str, limit: int, expires_at: float) -> bool:
        """Take one of `limit` slots of `key` until `expires_at` (epoch seconds); False, taking
        nothing, when `limit` unexpired leases are held."""

    def release(self, key: str, lease_id: str) -> None:
        """Give the slot back (nothing happens for an unknown or expired lease)."""


class VaultStore(Protocol):
    """A team's Token Vault (adapters/dynamo/vault.py): tokens whose values are stored sealed only."""

    def create(self, token: VaultToken) -> None:
        """Store a new token: Conflict when the team has one of that name (case-insensitive),
        ValidationFailed when it has the cap's number already; both hold under creates at once."""

    def get(self, team_id: str, token_id: str) -> VaultToken | None:
        """The token as stored now (strongly consistent), None for none of this team's."""

    def list_for_team(self, team_id: str) -> list[VaultToken]: ...

    def replace_value(self, team_id: str, token_id: str, sealed: bytes, preview: str, updated_at: str) -> VaultToken:
        """Rotate: raises NotFound for none of this team's."""

    def replace_hosts(self, team_id: str, token_id: str, hosts: tuple[str, ...] | None,
                      updated_at: str) -> VaultToken:
        """Bind to these hosts (None: any): raises NotFound for none of this team's."""

    def delete(self, team_id: str, token_id: str) -> VaultToken:
        """Raises NotFound for none of this team's."""


# ---- dispatch -------------------------------------------------------------------------------


class DispatchQueue(Protocol):
    def send_many(self, dispatches: list[Dispatch]) -> list[int]:
        """Send them; return the indexes that were not sent."""


class TaskQueue(Protocol):
    def send(self, dispatch: Dispatch) -> None: ...


class ChangeConsumer(Protocol):
    def consume(self, changes: list[Change]) -> list[int]:
        """Act on a batch of the stream's changes; return the indexes whose effect failed."""


class CountingConsumer(Protocol):
    def count(self, changes: list[Change], before: int) -> list[int]:
        """Count `changes[:before]` (those after the earliest failure of the other consumers come
        again); return the indexes whose effect failed."""


class TeamStatsStore(Protocol):
    """The TeamStats table: each team's counts by status and its usage per UTC day."""

    def add(self, tally: Tally, token: str) -> None:
        """Add the tally, all or nothing (Busy: nothing written); a repeat with the same token
        (within DynamoDB's 10 minutes) adds nothing."""

    def total(self, team_id: str, status: TaskStatus | None) -> int: ...

    def counts(self, team_id: str) -> dict[TaskStatus, int]: ...

    def usage(self, team_id: str, first: date, last: date) -> dict[date, DayUsage]:
        """The team's usage of each day from `first` to `last` (inclusive) that has any."""

    def finished(self, team_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """Tasks finished per UTC minute from `first` to `last` (`YYYY-MM-DDTHH:MM`, inclusive), only
        the minutes with any: {minute: {"completed": n, "failed": n}}."""

    def set_counts(self, team_id: str, counts: Mapping[TaskStatus, int]) -> None: ...

    def counted_teams(self) -> Iterator[str]:
        """Every team that has counts (a Scan: the operator's `stats recount --all` only)."""


class QueueDepths(Protocol):
    def depths(self) -> dict[str, dict[str, int]]:
        """Each lane's and the dead-letter queue's messages (approximate, SQS's attributes):
        {"high"|"normal"|"low"|"deadLetter": {"visible", "inFlight", "delayed"}}."""


# ---- run ------------------------------------------------------------------------------------


class BodyStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class ProgressStore(Protocol):
    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None: ...


class OutputStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def delete_many(self, keys: list[str]) -> None:
        """Delete these objects (an absent one is no error)."""

    def put_file(self, key: str, path: str, content_type: str) -> int: ...


class Downloaded(Protocol):
    """What a download gives (adapters/downloads.py Fetched)."""

    @property
    def content_type(self) -> str | None: ...

    @property
    def size(self) -> int: ...


class FileDownloader(Protocol):
    def download(self, team: str, url: str, headers_for: Callable[[str], Mapping[str, str]],
                 sink: IO[bytes], max_bytes: int, timeout: float) -> Downloaded:
        """Write the body of a 2xx GET of `url` (redirects followed, each URL asked with the headers
        `headers_for` gives it) to `sink`, through the outbound guard, on `team`'s own connections.
        Raises model/outputs.py's DownloadFailed (its message the reason: not 2xx, over `max_bytes`,
        timeout, refused)."""


# ---- notify ---------------------------------------------------------------------------------


class NotificationQueue(Protocol):
    def send(self, notifications: list[Notification]) -> list[int]:
        """Queue them in order; return the indexes that were not queued."""


class DeliveryLog(Protocol):
    def record(self, notification: Notification, url: str, status: str, attempts: int, error: str | None) -> None:
        """Remember the delivery's state on its task (what clients see as `notifications`)."""

    def requeue_failed(self, task_id: str, notification_id: str) -> None:
        """Mark a `failed` delivery `queued` again (a resend), in one conditional write: Conflict
        unless it is failed (a second resend at the same time loses), NotFound if the task is gone."""


class Cipher(Protocol):
    """Encryption of small secrets at rest (adapters/kms.py: one KMS key; at most 4 KB each).
    `context` is bound to the ciphertext (KMS's encryption context, authenticated, not secret): name
    the row and the field it is for, e.g. {"teamId": …, "field": …}, so that a ciphertext copied to
    another row does not decrypt there."""

    def encrypt(self, plaintext: bytes, context: Mapping[str, str]) -> bytes: ...

    def decrypt(self, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext; raises Undecryptable unless `ciphertext` was made by this cipher with
        exactly this `context`."""


class SecretStore(Protocol):
    """A team's webhook signing secrets, written with optimistic concurrency: each save names the
    version it read, so of two callers at once only one write lands and the other re-reads."""

    def load(self, team_id: str) -> StoredSecrets:
        """The team's list as stored (empty if none) and its version: 0 when no save has been
        made with a version (nothing stored, or a row written before versions)."""

    def save(self, team_id: str, secrets: list[SigningSecret], seen: int = 0) -> int:
        """Replace the list, only if the stored version is still `seen` (0: still none, the
        first versioned write); returns the new version. Raises Conflict, writing nothing, when
        another save came first."""


class ConnectionStore(Protocol):
    def add(self, subscription: Subscription) -> None: ...

    def subscribe(self, subscription: Subscription, limit: int) -> bool:
        """Add a topic to a connection opened with a credential, counted: False (nothing written)
        once the connection has taken `limit` of them."""

    def remove(self, connection_id: str) -> None: ...

    def subscriptions_of_team(self, team_id: str) -> list[Subscription]:
        """Every subscription of the team's connections, whatever its topic (one lookup), each
        with the credential that opened its connection."""

    def team_of(self, connection_id: str) -> str | None:
        """The team an open connection authenticated as; None for an unknown connection."""

    def opened_by(self, connection_id: str) -> Opener | None:
        """The credential that opened the connection; None for an unknown connection."""

    def opened_with(self, team_id: str, credential_id: str) -> list[str]:
        """The team's connections that the key or client token `credential_id` opened."""

    def open_count(self, team_id: str, cap: int) -> int:
        """How many connections the team holds open, exactly while under `cap`. At the cap, a
        connection not written for LONGEST_LIVE_CONNECTION_SECONDS (its $disconnect was lost) is
        forgotten and not counted."""


class Pusher(Protocol):
    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        """Send; False when the connection is gone."""

    def disconnect(self, connection_id: str) -> bool:
        """Close the connection (API Gateway's DeleteConnection); False when it was gone already."""


class Presigner(Protocol):
    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> str: ...
