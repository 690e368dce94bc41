"""The WebSocket connections table: one row per (connection, topic), an index by team (the
stream dispatcher finds every subscriber of a batch's teams with one Query per team).

Which credential opened a connection (the id of its key or client token, never the secret) is one
more row of the connection, whose topic says it: `opener#<credentialId>#<clientId>`. Its sort key
is all the index needs, so the team index (KEYS_ONLY) gives each subscriber's credential with the
same one Query, and finding a revoked credential's connections is that Query with a filter: no
index of its own, nor a change of the existing one (which CloudFormation cannot change in place)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.errors import CONDITION_FAILED
from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS
from taskhook.notify.live import Opener, Subscription

CONNECTION_TTL_SECONDS = 24 * 3600  # API Gateway closes WebSocket connections after 2 h anyway
TEAM_INDEX = "byTeam"
OPENER_PREFIX = "opener#"
BATCH_GET_KEYS = 100  # BatchGetItem's most keys a call
STALE_REMOVED_AT_ONCE = 50  # connections whose $disconnect was lost, removed by one connect


def opener_topic(opener: Opener) -> str:
    return f"{OPENER_PREFIX}{opener.credential_id}#{opener.client_id or ''}"


def parse_opener(team_id: str, topic: str) -> Opener:
    credential_id, _, client_id = topic.removeprefix(OPENER_PREFIX).partition("#")
    return Opener(team_id, credential_id, client_id or None)


class DynamoConnectionStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _put(self, connection_id: str, topic: str, team_id: str) -> None:
        self._client.put_item(TableName=self._table, Item={
            "connectionId": {"S": connection_id}, "topic": {"S": topic}, "teamId": {"S": team_id},
            "expiresAt": {"N": str(int(time.time()) + CONNECTION_TTL_SECONDS)},
        })

    def add(self, subscription: Subscription) -> None:
        with busy_when_throttled():
            self._put(subscription.connection_id, subscription.topic, subscription.team_id)
            if subscription.credential_id:
                self._put(subscription.connection_id, opener_topic(subscription.opener), subscription.team_id)

    def subscribe(self, subscription: Subscription, limit: int) -> bool:
        """Counted on the connection's opener row (one conditional update), then the topic's row."""
        values = {":one": {"N": "1"}, ":limit": {"N": str(limit)},
                  ":expires": {"N": str(int(time.time()) + CONNECTION_TTL_SECONDS)}}
        with busy_when_throttled():
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"connectionId": {"S": subscription.connection_id},
                         "topic": {"S": opener_topic(subscription.opener)}},
                    UpdateExpression="ADD subscriptions :one SET expiresAt = :expires",
                    ConditionExpression="attribute_exists(connectionId) AND "
                                        "(attribute_not_exists(subscriptions) OR subscriptions < :limit)",
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                    return False
                raise
            self._put(subscription.connection_id, subscription.topic, subscription.team_id)
        return True

    def _rows_of(self, connection_id: str, prefix: str = "", limit: int | None = None) -> list[dict[str, Any]]:
        """The connection's rows (those whose topic starts with `prefix`), in topic order."""
        condition, values = "connectionId = :c", {":c": {"S": connection_id}}
        if prefix:
            condition += " AND begins_with(topic, :p)"
            values[":p"] = {"S": prefix}
        rows: list[dict[str, Any]] = self._client.query(
            TableName=self._table, KeyConditionExpression=condition, ExpressionAttributeValues=values,
            **({"Limit": limit} if limit else {}),
        )["Items"]
        return rows

    def remove(self, connection_id: str) -> None:
        with busy_when_throttled():
            for row in self._rows_of(connection_id):
                self._client.delete_item(TableName=self._table,
                                         Key={"connectionId": row["connectionId"], "topic": row["topic"]})

    def team_of(self, connection_id: str) -> str | None:
        with busy_when_throttled():
            rows = self._rows_of(connection_id, limit=1)
        return rows[0]["teamId"]["S"] if rows else None

    def opened_by(self, connection_id: str) -> Opener | None:
        with busy_when_throttled():
            rows = self._rows_of(connection_id, OPENER_PREFIX, limit=1)
        return parse_opener(rows[0]["teamId"]["S"], rows[0]["topic"]["S"]) if rows else None

    def _team_rows(self, team_id: str, until: int | None = None, **extra: Any) -> list[dict[str, Any]]:
        """The team index's rows (`extra`: the query's filter and values); with `until`, pages stop
        being read once that many rows are in."""
        rows: list[dict[str, Any]] = []
        with busy_when_throttled():  # the pages are read while the list is built
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table, IndexName=TEAM_INDEX, KeyConditionExpression="teamId = :t", **extra,
            )
            for page in pages:
                rows += page["Items"]
                if until is not None and len(rows) >= until:
                    break
        return rows

    def _openers(self, team_id: str, prefix: str = OPENER_PREFIX, until: int | None = None) -> list[dict[str, Any]]:
        """The team's opener rows (one per connection) whose topic starts with `prefix`."""
        return self._team_rows(team_id, until, FilterExpression="begins_with(topic, :p)",
                               ExpressionAttributeValues={":t": {"S": team_id}, ":p": {"S": prefix}})

    def subscriptions_of_team(self, team_id: str) -> list[Subscription]:
        rows = self._team_rows(team_id, ExpressionAttributeValues={":t": {"S": team_id}})
        openers: dict[str, Opener] = {}
        for row in sorted(rows, key=lambda r: r["topic"]["S"]):
            if row["topic"]["S"].startswith(OPENER_PREFIX):
                openers.setdefault(row["connectionId"]["S"], parse_opener(team_id, row["topic"]["S"]))
        unknown = Opener(team_id, "")
        return [openers.get(row["connectionId"]["S"], unknown).subscription(row["connectionId"]["S"],
                                                                            row["topic"]["S"])
                for row in rows if not row["topic"]["S"].startswith(OPENER_PREFIX)]

    def opened_with(self, team_id: str, credential_id: str) -> list[str]:
        return sorted({row["connectionId"]["S"] for row in self._openers(team_id, f"{OPENER_PREFIX}{credential_id}#")})

    def open_count(self, team_id: str, cap: int) -> int:
        """The team's opener rows (one per open connection), from the team index (keys only; its
        pages hold the subscription rows too, filtered out), read until `cap` of them are found. At
        `cap`, each row's last write is read (its `expiresAt`, BatchGetItem): a connection not
        written for longer than API Gateway keeps one open lost its $disconnect; it is removed and
        not counted."""
        rows = self._openers(team_id, until=cap)  # stopped at the cap: a refused connect reads no more
        connections = {row["connectionId"]["S"] for row in rows}
        if len(connections) < cap:
            return len(connections)
        written_after = time.time() + CONNECTION_TTL_SECONDS - LONGEST_LIVE_CONNECTION_SECONDS
        expiries, unread = self._expiries(rows)
        fresh = {connection for connection, expires in expiries if expires >= written_after}
        stale = sorted({connection for connection, _ in expiries} - fresh)
        for connection in stale[:STALE_REMOVED_AT_ONCE]:  # the rest at a later connect: not counted either way
            self.remove(connection)
        return len(fresh | unread)

    def _expiries(self, rows: list[dict[str, Any]]) -> tuple[list[tuple[str, float]], set[str]]:
        """(connection, expiresAt) of these rows (a row gone meanwhile: none), and the connections
        whose rows the table left unprocessed three times (counted as open)."""
        found: list[tuple[str, float]] = []
        unread: set[str] = set()
        keys = [{"connectionId": row["connectionId"], "topic": row["topic"]} for row in rows]
        for start in range(0, len(keys), BATCH_GET_KEYS):
            wanted = keys[start:start + BATCH_GET_KEYS]
            for _ in range(3):
                with busy_when_throttled():
                    answer = self._client.batch_get_item(RequestItems={self._table: {
                        "Keys": wanted, "ProjectionExpression": "connectionId, expiresAt"}})
                found += [(item["connectionId"]["S"], float(item["expiresAt"]["N"]) if "expiresAt" in item else 0.0)
                          for item in answer.get("Responses", {}).get(self._table, [])]
                wanted = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not wanted:
                    break
            unread |= {key["connectionId"]["S"] for key in wanted}
        return found, unread
