"""Counted, expiring slots on the Limits table (ports.LeaseStore): a team's executor share, a team's
calls in flight to one host.

One item per key: `leases`, a map of lease id -> expiry (epoch seconds), and `expiresAt`, the
table's TTL (a day after the newest lease's expiry, so an idle key disappears by itself). Acquiring
is one conditional UpdateItem, `size(leases) < :limit`; only when it fails are the expired leases
of a holder that died pruned, in the same conditional write that takes the slot. Lease ids are
short: the item's size is what every write of it costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.errors import CONDITION_FAILED
from taskhook.adapters.throttling import busy_when_throttled

LEASES = "leases"
TTL = "expiresAt"
TTL_SLACK = 86_400  # the item outlives its newest lease by a day (leases last minutes)
ATTEMPTS = 3  # conditional writes per acquire before answering "full" (others were racing us)


class DynamoLeaseStore:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def acquire(self, key: str, lease_id: str, limit: int, expires_at: float) -> bool:
        if limit <= 0:
            return False
        values = {":e": _n(expires_at), ":ttl": _n(int(expires_at) + TTL_SLACK), ":limit": _n(limit)}
        item = self._update(key, "SET #l.#id = :e, #ttl = :ttl", "attribute_exists(#l) AND size(#l) < :limit",
                            {"#id": lease_id}, values)
        for _ in range(ATTEMPTS):
            if item is None:
                return True
            leases = item.get(LEASES, {}).get("M")
            if leases is None:  # a new key: the map is created with our lease in it
                item = self._update(key, "SET #l = :m, #ttl = :ttl", "attribute_not_exists(#l)", {},
                                    {":m": {"M": {lease_id: _n(expires_at)}}, ":ttl": values[":ttl"]})
                continue
            now = self._clock()
            expired = {name: value["N"] for name, value in leases.items() if float(value["N"]) <= now}
            if len(leases) - len(expired) >= limit:
                return False
            item = self._prune_and_take(key, lease_id, limit, expired, values)
        return item is None

    def _prune_and_take(self, key: str, lease_id: str, limit: int, expired: dict[str, str],
                        values: dict[str, Any]) -> dict[str, Any] | None:
        """Remove the expired leases read (each only if it still holds the expiry read) and take a
        slot, in one write: with them still there, fewer than `limit` live ones is
        `size(leases) < limit + len(expired)`."""
        names = {"#id": lease_id}
        still = []
        for index, (name, expiry) in enumerate(expired.items()):
            names[f"#x{index}"] = name
            values = {**values, f":x{index}": {"N": expiry}}
            still.append(f"#l.#x{index} = :x{index}")
        values = {**values, ":limit": _n(limit + len(expired))}
        removal = (" REMOVE " + ", ".join(f"#l.#x{i}" for i in range(len(expired)))) if expired else ""
        return self._update(key, "SET #l.#id = :e, #ttl = :ttl" + removal,
                            " AND ".join(["size(#l) < :limit", *still]), names, values)

    def _update(self, key: str, update: str, condition: str, names: dict[str, str],
                values: dict[str, Any]) -> dict[str, Any] | None:
        """One conditional UpdateItem: None when it was applied, else the item as it stands ({}
        when there is none)."""
        try:
            with busy_when_throttled():
                self._client.update_item(
                    TableName=self._table, Key={"key": {"S": key}}, UpdateExpression=update,
                    ConditionExpression=condition, ExpressionAttributeNames={"#l": LEASES, "#ttl": TTL, **names},
                    ExpressionAttributeValues=values, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return dict(exc.response.get("Item") or {})
        return None

    def release(self, key: str, lease_id: str) -> None:
        try:
            with busy_when_throttled():
                self._client.update_item(
                    TableName=self._table, Key={"key": {"S": key}}, UpdateExpression="REMOVE #l.#id",
                    ConditionExpression="attribute_exists(#l.#id)",
                    ExpressionAttributeNames={"#l": LEASES, "#id": lease_id})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise

    def held(self, key: str) -> dict[str, float]:
        """The leases of `key` as stored (expired ones included): for tests and the operator."""
        item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return {name: float(value["N"]) for name, value in (item or {}).get(LEASES, {}).get("M", {}).items()}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3)) if isinstance(value, float) else str(value)}
