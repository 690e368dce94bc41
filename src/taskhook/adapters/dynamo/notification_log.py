"""Records each notification's delivery state on its task row (`notifications.<id>`).

A bookkeeping write: it changes neither status nor progress, so the notifier ignores the
stream record it causes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from taskhook.notify.rules import Notification


class DynamoNotificationLog:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, notification: Notification, url: str, status: str, attempts: int, error: str | None) -> None:
        entry: dict[str, Any] = {
            "M": {
                "kind": {"S": notification.kind}, "url": {"S": url}, "status": {"S": status},
                "attempts": {"N": str(attempts)}, "sequence": {"S": notification.sequence},
                "taskStatus": {"S": notification.status},
                **({"lastError": {"S": error}} if error else {}),
            }
        }
        names = {"#n": "notifications", "#id": notification.id}
        key = {"id": {"S": notification.task_id}}
        try:
            self._client.update_item(
                TableName=self._table, Key=key, UpdateExpression="SET #n.#id = :e",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames=names, ExpressionAttributeValues={":e": entry},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                return  # the task is gone; nothing to record on
            if code != "ValidationException":
                raise
            # No `notifications` map yet: create it holding this entry.
            self._client.update_item(
                TableName=self._table, Key=key, UpdateExpression="SET #n = if_not_exists(#n, :m)",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames={"#n": "notifications"},
                ExpressionAttributeValues={":m": {"M": {notification.id: entry}}},
            )
            self._client.update_item(
                TableName=self._table, Key=key, UpdateExpression="SET #n.#id = :e",
                ExpressionAttributeNames=names, ExpressionAttributeValues={":e": entry},
            )
