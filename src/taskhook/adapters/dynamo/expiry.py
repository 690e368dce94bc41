"""The local stack's stand-in for DynamoDB's TTL on the Tasks table (its emulator has none): delete
every task row whose `expiresAt` has passed. Each delete streams a REMOVE record, as TTL's does, so
the counters decrement and the task's S3 objects go (dispatch/stream.py). LOCAL ONLY: it Scans the
whole table (infra/runner.py runs it every TASKHOOK_EXPIRY_SECONDS, default 60, on LocalStack; with
the stack's own emulator the runner has the emulator do it in its process instead, which is far
cheaper there; `bin/taskhook retention expire-local` on demand). On AWS, TTL does this at no
request cost."""

from __future__ import annotations

from typing import Any

from taskhook.adapters.throttling import busy_when_throttled


class LocalExpiry:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def expire(self, now: float, team_id: str | None = None) -> int:
        """Delete the rows expired at `now` (epoch seconds), only `team_id`'s when given; how many
        were deleted."""
        deleted = 0
        values: dict[str, Any] = {":now": {"N": str(int(now))}}
        condition = "expiresAt <= :now"
        if team_id is not None:
            values[":team"] = {"S": team_id}
            condition += " AND teamId = :team"
        kwargs: dict[str, Any] = {"TableName": self._table, "FilterExpression": condition,
                                  "ProjectionExpression": "id", "ExpressionAttributeValues": values}
        while True:
            with busy_when_throttled():
                page = self._client.scan(**kwargs)
            for item in page.get("Items", []):
                try:
                    with busy_when_throttled():
                        self._client.delete_item(TableName=self._table, Key={"id": item["id"]},
                                                 ConditionExpression="expiresAt <= :now",
                                                 ExpressionAttributeValues={":now": {"N": str(int(now))}})
                    deleted += 1
                except self._client.exceptions.ConditionalCheckFailedException:
                    continue  # gone meanwhile
            if "LastEvaluatedKey" not in page:
                return deleted
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
