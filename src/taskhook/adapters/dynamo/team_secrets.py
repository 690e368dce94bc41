"""The Teams table: per-team settings, today the webhook signing secrets."""

from __future__ import annotations

from typing import Any

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.notify.secrets import SigningSecret


class DynamoSecretStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def load(self, team_id: str) -> list[SigningSecret]:
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key={"teamId": {"S": team_id}},
                                         ConsistentRead=True).get("Item")
        if not item:
            return []
        return [
            SigningSecret(s["M"]["secret"]["S"], s["M"]["createdAt"]["S"], s["M"].get("expiresAt", {}).get("S"))
            for s in item.get("webhookSecrets", {}).get("L", [])
        ]

    def save(self, team_id: str, secrets: list[SigningSecret]) -> None:
        values = [{"M": {"secret": {"S": s.secret}, "createdAt": {"S": s.created_at},
                         **({"expiresAt": {"S": s.expires_at}} if s.expires_at else {})}} for s in secrets]
        with busy_when_throttled():
            self._client.update_item(
                TableName=self._table, Key={"teamId": {"S": team_id}},
                UpdateExpression="SET webhookSecrets = :s", ExpressionAttributeValues={":s": {"L": values}},
            )
