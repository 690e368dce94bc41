"""The WebSocket connections table: one row per (connection, topic), an index by team (the
notifier finds every subscriber of a batch's teams with one Query per team)."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from taskhook.notify.live import Subscription

CONNECTION_TTL_SECONDS = 24 * 3600  # API Gateway closes WebSocket connections after 2 h anyway
TEAM_INDEX = "byTeam"


class DynamoConnectionStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, subscription: Subscription) -> None:
        self._client.put_item(TableName=self._table, Item={
            "connectionId": {"S": subscription.connection_id}, "topic": {"S": subscription.topic},
            "teamId": {"S": subscription.team_id},
            "expiresAt": {"N": str(int(time.time()) + CONNECTION_TTL_SECONDS)},
        })

    def remove(self, connection_id: str) -> None:
        rows = self._client.query(
            TableName=self._table, KeyConditionExpression="connectionId = :c",
            ExpressionAttributeValues={":c": {"S": connection_id}},
        )["Items"]
        for row in rows:
            self._client.delete_item(TableName=self._table,
                                     Key={"connectionId": row["connectionId"], "topic": row["topic"]})

    def team_of(self, connection_id: str) -> str | None:
        rows = self._client.query(
            TableName=self._table, KeyConditionExpression="connectionId = :c",
            ExpressionAttributeValues={":c": {"S": connection_id}}, Limit=1,
        )["Items"]
        return rows[0]["teamId"]["S"] if rows else None

    def subscriptions_of_team(self, team_id: str) -> list[Subscription]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, IndexName=TEAM_INDEX, KeyConditionExpression="teamId = :t",
            ExpressionAttributeValues={":t": {"S": team_id}},
        )
        return [Subscription(row["connectionId"]["S"], team_id, row["topic"]["S"])
                for page in pages for row in page["Items"]]


class ApiGatewayPusher:
    """Posts to connections through the API Gateway management API (or the local stack's twin)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("GoneException", "410"):
                return False
            raise
        return True
