"""Token buckets on the Limits table (ports.RateLimiter), one item per key, shared by every container.

The item holds `tat` (model/gcra.py, epoch nanoseconds), the bucket's `cap` (its capacity in
nanoseconds: the limit `tat` was written under) and the table's TTL `expiresAt`: once `tat` has
passed the bucket is full, which is what no item means too, so an idle key may disappear a minute
later.

An admitted request is one conditional UpdateItem in the common case; DynamoDB does the
arithmetic, so concurrent requests never lose an update and never need a read first:
- bucket full (`tat` passed, or no item): `SET tat = :now + :interval`
  if `attribute_not_exists(tat) OR tat <= :now`;
- bucket in use (`tat` ahead): `SET tat = tat + :interval`
  if `tat > :now AND tat <= :now + capacity - interval`: an atomic add, bounded by the burst.
Which of the two to try comes from what this process last saw of the key. When the guess is wrong
the failed write returns the item (ReturnValuesOnConditionCheckFailure=ALL_OLD; DynamoDB and moto
do; a backend that leaves it out, as DynamoDB Local was reported to, costs one GetItem), and the
exact answer is computed from it: a refusal stops there, an admission tries the other form.

A refused request usually costs nothing: `tat` only grows (until the item expires, long after it
has passed), so the value this process last saw is a lower bound of the stored one; when even that
refuses, the stored one refuses too, and no request is sent. The one exception: a `tat` more than a
whole bucket ahead (after the team's limit changed, or from a container whose clock is ahead) is
written back to "empty now" when it was written under another limit (`cap` differs: the team's
limit changed), so that a new limit applies at once (model/gcra.py `decide`); under the same limit
it is only refused: a request whose `now` is older than the ones that filled the bucket (it waited,
or its container's clock is behind) must not hand their tokens out again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.errors import CONDITION_FAILED
from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.gcra import NS, Bucket, admitted, decide, overdrawn
from taskhook.model.rate import RateDecision

TAT = "tat"
CAP = "cap"
TTL = "expiresAt"
TTL_SLACK = 60  # seconds an item outlives its bucket's refill (then it is the same as no item)
# Conditional writes per request at most. The request's `now` is fixed at its arrival, so a lost
# "full bucket" write means `tat` is now ahead of it for good, and the add that follows cannot lose
# a race (DynamoDB adds atomically): it is admitted or truly over the limit.
ATTEMPTS = 3
MAX_HINTS = 10_000  # keys whose last seen `tat` a process remembers


class DynamoRateLimiter:
    def __init__(self, client: Any, table: str, clock: Callable[[], int] = time.time_ns) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._seen: dict[str, int] = {}  # key -> the highest `tat` seen stored (a lower bound)
        self._lock = threading.Lock()  # held for a dict operation only, never across a request

    def admit(self, key: str, rps: float, burst: int) -> RateDecision:
        bucket = Bucket(rps, burst)
        # The hint first, the clock after: a `now` read before it could be older than admits the hint
        # already counts (a thread descheduled in between), and refuse a request well within the burst.
        known = self._last_seen(key)
        now = self._clock()
        if known is not None and not overdrawn(bucket, known, now):
            decision, _ = decide(bucket, known, now)
            if not decision.allowed:
                return decision  # the stored `tat` is at least `known`: refused without a request
        for _ in range(ATTEMPTS):
            in_use = known is not None and known > now
            stored = self._add(key, bucket, now) if in_use else self._start(key, bucket, now)
            if isinstance(stored, int):
                self._remember(key, stored)
                return admitted(bucket, stored, now)
            known = stored.tat
            decision, to_store = decide(bucket, known, now, same_limit=stored.cap == bucket.capacity)
            if to_store is not None and not decision.allowed:
                self._empty(key, to_store, bucket.capacity)  # more than a bucket ahead under another limit
            elif known is not None:
                self._remember(key, known)
            if not decision.allowed:
                return decision
        # Unreachable but for a bucket emptied again and again by repairs (set-limits in a loop):
        # refuse this one request for one interval rather than loop.
        return RateDecision(allowed=False, limit=burst, remaining=0, reset_after=bucket.capacity / NS,
                            retry_after=bucket.interval / NS)

    def _empty(self, key: str, tat: int, cap: int) -> None:
        """Bring a `tat` more than a bucket ahead back to `tat` (an empty bucket now)."""
        values = {":tat": _n(tat), ":ttl": _n(_expiry(tat)), ":cap": _n(cap)}
        stored = self._update(key, "SET #t = :tat, #ttl = :ttl, #cap = :cap", "#t > :tat", values, read_back=False)
        with self._lock:
            if isinstance(stored, int):
                self._seen[key] = tat  # lower than before: `max` would keep the old value
            else:
                self._seen.pop(key, None)

    def _start(self, key: str, bucket: Bucket, now: int) -> int | _Stored:
        """A full bucket (or none): `tat` = now + interval."""
        new_tat = now + bucket.interval
        return self._update(key, "SET #t = :new, #ttl = :ttl, #cap = :cap", "attribute_not_exists(#t) OR #t <= :now",
                            {":new": _n(new_tat), ":now": _n(now), ":ttl": _n(_expiry(new_tat)),
                             ":cap": _n(bucket.capacity)})

    def _add(self, key: str, bucket: Bucket, now: int) -> int | _Stored:
        """A bucket in use: `tat` += interval, if that stays within the burst."""
        latest = now + bucket.capacity  # the highest `tat` this write can leave
        return self._update(key, "SET #t = #t + :interval, #ttl = :ttl, #cap = :cap", "#t > :now AND #t <= :most",
                            {":interval": _n(bucket.interval), ":now": _n(now),
                             ":most": _n(bucket.admit_limit(now)), ":ttl": _n(_expiry(latest)),
                             ":cap": _n(bucket.capacity)})

    def _update(self, key: str, update: str, condition: str, values: dict[str, Any],
                read_back: bool = True) -> int | _Stored:
        """The `tat` the write stored, or, when its condition failed, what is stored (when
        `read_back`; else an empty answer)."""
        try:
            with busy_when_throttled():
                answer = self._client.update_item(
                    TableName=self._table, Key=_key(key), UpdateExpression=update, ConditionExpression=condition,
                    ExpressionAttributeNames={"#t": TAT, "#ttl": TTL, "#cap": CAP}, ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            item = exc.response.get("Item")
            if not read_back:
                return _Stored(None, None)
            return _Stored(*_state(item if item is not None else self._read(key)))
        return int(answer["Attributes"][TAT]["N"])

    def _read(self, key: str) -> dict[str, Any] | None:
        """The stored item, for a backend whose failed write does not return it (DynamoDB Local)."""
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=_key(key), ConsistentRead=True,
                                         ProjectionExpression="#t, #cap",
                                         ExpressionAttributeNames={"#t": TAT, "#cap": CAP}).get("Item")
        return dict(item) if item else None

    def _last_seen(self, key: str) -> int | None:
        with self._lock:
            return self._seen.get(key)

    def _remember(self, key: str, tat: int) -> None:
        with self._lock:
            if len(self._seen) >= MAX_HINTS and key not in self._seen:
                self._seen.clear()
            self._seen[key] = max(tat, self._seen.get(key, tat))


class _Stored:
    """A failed write's answer: the `tat` stored (None: no item) and the capacity it was written under."""

    __slots__ = ("tat", "cap")

    def __init__(self, tat: int | None, cap: int | None) -> None:
        self.tat = tat
        self.cap = cap


def _key(key: str) -> dict[str, Any]:
    return {"key": {"S": key}}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _state(item: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """The item's `tat` and `cap` (None for what it lacks)."""
    item = item or {}
    return (int(item[TAT]["N"]) if TAT in item else None, int(item[CAP]["N"]) if CAP in item else None)


def _expiry(tat: int) -> int:
    """Epoch seconds (the TTL's unit) a little after the bucket is full again."""
    return tat // NS + 1 + TTL_SLACK
