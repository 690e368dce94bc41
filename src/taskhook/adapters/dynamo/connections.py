"""The WebSocket connections table: one row per (connection, topic), an index by team (the
stream dispatcher finds every subscriber of a batch's teams with one Query per team)."""

from __future__ import annotations

import time
from typing import Any

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.notify.live import Subscription

CONNECTION_TTL_SECONDS = 24 * 3600  # API Gateway closes WebSocket connections after 2 h anyway
TEAM_INDEX = "byTeam"




class DynamoConnectionStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, subscription: Subscription) -> None:
        with busy_when_throttled():
            self._client.put_item(TableName=self._table, Item={
                "connectionId": {"S": subscription.connection_id}, "topic": {"S": subscription.topic},
                "teamId": {"S": subscription.team_id},
                "expiresAt": {"N": str(int(time.time()) + CONNECTION_TTL_SECONDS)},
            })

    def remove(self, connection_id: str) -> None:
        with busy_when_throttled():
            rows = self._client.query(
                TableName=self._table, KeyConditionExpression="connectionId = :c",
                ExpressionAttributeValues={":c": {"S": connection_id}},
            )["Items"]
            for row in rows:
                self._client.delete_item(TableName=self._table,
                                         Key={"connectionId": row["connectionId"], "topic": row["topic"]})

    def team_of(self, connection_id: str) -> str | None:
        with busy_when_throttled():
            rows = self._client.query(
                TableName=self._table, KeyConditionExpression="connectionId = :c",
                ExpressionAttributeValues={":c": {"S": connection_id}}, Limit=1,
            )["Items"]
        return rows[0]["teamId"]["S"] if rows else None

    def subscriptions_of_team(self, team_id: str) -> list[Subscription]:
        with busy_when_throttled():  # the pages are read while the list is built
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table, IndexName=TEAM_INDEX, KeyConditionExpression="teamId = :t",
                ExpressionAttributeValues={":t": {"S": team_id}},
            )
            return [Subscription(row["connectionId"]["S"], team_id, row["topic"]["S"])
                    for page in pages for row in page["Items"]]
