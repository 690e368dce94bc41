"""The gate before the claim: a team's executor share and its limits per destination host.

A team's plan (model/plan.py) may give it a share (`concurrency`: its tasks running at once, over
every executor) and, per host, at most N calls in flight and R calls per second. A task over any of
them is not run now: the executor puts it back on its lane (a new message with a short delay, see
`put_back_delay`), so that other teams' tasks behind it in the queue run meanwhile.

Slots are leases (ports.LeaseStore, on DynamoDB): taken here, released when the run ends, and
expiring by themselves after the run's budget plus the claim margin if the process dies. Rates are
token buckets (ports.RateLimiter). A team with no share and a host with no limit cost nothing here.

Cheap churn: once a key was found full in this process, the next tasks for it are put back
without asking DynamoDB again for CHURN_SECONDS (or until this process releases a slot of it),
so that working through one team's backlog of hundreds of tasks to reach another team's costs a
queue send per task, not a DynamoDB write as well.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from taskhook.model.errors import Busy
from taskhook.model.limits import SQS_MAX_DELAY
from taskhook.model.plan import TeamPlan
from taskhook.model.task import FUNCTION_KIND, Task
from taskhook.model.urls import InvalidUrl, parse_http_url
from taskhook.ports import LeaseStore, RateLimiter

log = logging.getLogger(__name__)

CHURN_SECONDS = 0.15
PUT_BACK_MAX_SECONDS = 5  # a put-back's delay grows with the put-backs so far, up to this
LEASE_ID_BYTES = 5  # 10 hex characters: the lease map's size is what every write of it costs


def share_key(team: str) -> str:
    return f"share:{team}"


def inflight_key(team: str, host: str) -> str:
    return f"inflight:{team}:{host}"


def rate_key(team: str, host: str) -> str:
    return f"dest:{team}:{host}"


def put_back_delay(put_backs: int, retry_after: float = 0.0, rand: Callable[[], float] = random.random) -> int:
    """Whole seconds (SQS's DelaySeconds) before a put-back task comes back: jittered between half
    and all of 2, 4, then PUT_BACK_MAX_SECONDS as the put-backs add up (a burst's first wave spread
    over two seconds, not all back in the next one); never before a refused rate's next token
    (`retry_after`)."""
    upper = min(PUT_BACK_MAX_SECONDS, 2 ** min(max(0, put_backs) + 1, 8))
    delay = max(1, math.ceil(upper * (0.5 + 0.5 * rand())))
    return int(min(SQS_MAX_DELAY, max(delay, math.ceil(retry_after))))


@dataclass(frozen=True)
class Refusal:
    """Not now: `reason` says which limit; `retry_after` is when the refused rate has a token."""

    reason: str
    retry_after: float = 0.0


@dataclass
class Admission:
    """The slots one run holds; `release()` gives them back (once; a failed release is logged and
    left to expire)."""

    leases: LeaseStore | None = None
    held: list[tuple[str, str]] = field(default_factory=list)
    on_release: Callable[[str], None] | None = None

    def release(self) -> None:
        held, self.held = self.held, []
        for key, lease_id in reversed(held):
            assert self.leases is not None
            try:
                self.leases.release(key, lease_id)
            except Exception as exc:  # noqa: BLE001 - the lease expires by itself; the run's result stands
                log.warning("releasing lease %s of %s failed (it will expire): %s", lease_id, key,
                            type(exc).__name__)
            if self.on_release is not None:
                self.on_release(key)


class Shares:
    def __init__(self, plan_of: Callable[[str], TeamPlan], leases: LeaseStore, rates: RateLimiter | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 churn_seconds: float = CHURN_SECONDS) -> None:
        self._plan_of = plan_of
        self._leases = leases
        self._rates = rates
        self._clock = clock
        self._monotonic = monotonic
        self._churn = churn_seconds
        self._full_until: dict[str, tuple[float, Refusal]] = {}
        self._lock = threading.Lock()

    def admit(self, task: Task, seconds: float) -> Admission | Refusal:
        """Take the slots `task` needs for a run of at most `seconds`, or say which limit refuses."""
        try:
            plan = self._plan_of(task.teamId)
        except Busy:
            return Refusal("the team's plan could not be read (throttled)", 1.0)
        host = _host_of(task)
        destination = plan.destination(host) if host else None
        if not plan.concurrency and not destination:
            return Admission()
        admission = Admission(self._leases, on_release=self._forget)
        expires_at = self._clock() + seconds
        slots: list[tuple[str, int, str]] = []
        if plan.concurrency:
            slots.append((share_key(task.teamId), plan.concurrency, f"team {task.teamId} is at its share"))
        if destination and destination.concurrency and host:
            slots.append((inflight_key(task.teamId, host), destination.concurrency,
                          f"{destination.concurrency} calls to {host} in flight"))
        try:
            for key, limit, reason in slots:
                refused = self._recently_full(key)
                if refused is None and not self._take(admission, key, limit, expires_at):
                    refused = self._remember(key, Refusal(reason), self._churn)
                if refused is not None:
                    admission.release()
                    return refused
            if destination and destination.rps and host and self._rates is not None:
                refused = self._admit_rate(task.teamId, host, destination.rps, destination.effective_burst or 1)
                if refused is not None:
                    admission.release()
                    return refused
        except Busy:
            admission.release()
            return Refusal("the limits table is busy", 1.0)
        except BaseException:
            admission.release()
            raise
        return admission

    def known_full(self, team: str) -> Refusal | None:
        """The refusal of `team`'s share if this process found it full a moment ago (no call)."""
        return self._recently_full(share_key(team))

    def _take(self, admission: Admission, key: str, limit: int, expires_at: float) -> bool:
        lease_id = secrets.token_hex(LEASE_ID_BYTES)
        if not self._leases.acquire(key, lease_id, limit, expires_at):
            return False
        admission.held.append((key, lease_id))
        return True

    def _admit_rate(self, team: str, host: str, rps: float, burst: int) -> Refusal | None:
        key = rate_key(team, host)
        refused = self._recently_full(key)
        if refused is not None:
            return refused
        assert self._rates is not None
        decision = self._rates.admit(key, rps, burst)
        if decision.allowed:
            return None
        wait = max(0.0, decision.retry_after)
        return self._remember(key, Refusal(f"{rps:g} calls per second to {host}", wait), min(wait, 1.0))

    def _recently_full(self, key: str) -> Refusal | None:
        with self._lock:
            hit = self._full_until.get(key)
        if hit is None:
            return None
        until, refusal = hit
        if self._monotonic() >= until:
            return None
        return refusal

    def _remember(self, key: str, refusal: Refusal, seconds: float) -> Refusal:
        if seconds > 0:
            with self._lock:
                if len(self._full_until) > 10_000:
                    self._full_until.clear()
                self._full_until[key] = (self._monotonic() + seconds, refusal)
        return refusal

    def _forget(self, key: str) -> None:
        """A slot of `key` was just released here: the next task may take it at once."""
        with self._lock:
            self._full_until.pop(key, None)


def _host_of(task: Task) -> str | None:
    if task.kind == FUNCTION_KIND or not task.targetUrl:
        return None
    try:
        return parse_http_url(task.targetUrl).host
    except InvalidUrl:
        return None
