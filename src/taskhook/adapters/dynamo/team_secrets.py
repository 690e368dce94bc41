"""The Teams table: per-team settings, today the webhook signing secrets, encrypted at rest.

A team's secrets are one ciphertext (`sealedWebhookSecrets`, binary): the JSON list, encrypted by
the Cipher with the context {"teamId": <team>, "field": "webhookSecrets"}, so a ciphertext copied
to another team's row (or to another field) does not decrypt. One Decrypt per load.

Rows written before encryption hold the list in clear (`webhookSecrets`, a list of maps). They are
read as they are and rewritten encrypted on that first read (the clear attribute removed), on the
condition that the row is still in clear form: a save that got there first is never overwritten.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.errors import Busy
from taskhook.notify.secrets import SigningSecret
from taskhook.ports import Cipher

SEALED = "sealedWebhookSecrets"
CLEAR = "webhookSecrets"  # before encryption at rest; migrated on read
FIELD = "webhookSecrets"


class DynamoSecretStore:
    def __init__(self, client: Any, table: str, cipher: Cipher) -> None:
        self._client = client
        self._table = table
        self._cipher = cipher

    def load(self, team_id: str) -> list[SigningSecret]:
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=_key(team_id), ConsistentRead=True).get("Item")
        if not item:
            return []
        if SEALED in item:
            return _from_json(self._cipher.decrypt(item[SEALED]["B"], _context(team_id)))
        secrets = [
            SigningSecret(s["M"]["secret"]["S"], s["M"]["createdAt"]["S"], s["M"].get("expiresAt", {}).get("S"))
            for s in item.get(CLEAR, {}).get("L", [])
        ]
        if CLEAR in item:
            self._migrate(team_id, secrets)
        return secrets

    def save(self, team_id: str, secrets: list[SigningSecret]) -> None:
        with busy_when_throttled():
            self._client.update_item(
                TableName=self._table, Key=_key(team_id),
                UpdateExpression="SET #sealed = :s REMOVE #clear",
                ExpressionAttributeNames={"#sealed": SEALED, "#clear": CLEAR},
                ExpressionAttributeValues={":s": {"B": self._seal(team_id, secrets)}},
            )

    def _migrate(self, team_id: str, secrets: list[SigningSecret]) -> None:
        """Rewrite a clear row encrypted, unless it changed meanwhile. Best effort: the secrets
        were read either way, and the next read tries again."""
        try:
            with busy_when_throttled():
                self._client.update_item(
                    TableName=self._table, Key=_key(team_id),
                    UpdateExpression="SET #sealed = :s REMOVE #clear",
                    ConditionExpression="attribute_exists(#clear) AND attribute_not_exists(#sealed)",
                    ExpressionAttributeNames={"#sealed": SEALED, "#clear": CLEAR},
                    ExpressionAttributeValues={":s": {"B": self._seal(team_id, secrets)}},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        except Busy:
            return  # throttled (DynamoDB or KMS): the next read migrates

    def _seal(self, team_id: str, secrets: list[SigningSecret]) -> bytes:
        plaintext = json.dumps([s.public() for s in secrets], separators=(",", ":")).encode()
        return self._cipher.encrypt(plaintext, _context(team_id))


def _key(team_id: str) -> dict[str, Any]:
    return {"teamId": {"S": team_id}}


def _context(team_id: str) -> dict[str, str]:
    return {"teamId": team_id, "field": FIELD}


def _from_json(plaintext: bytes) -> list[SigningSecret]:
    return [SigningSecret(s["secret"], s["createdAt"], s.get("expiresAt")) for s in json.loads(plaintext)]
