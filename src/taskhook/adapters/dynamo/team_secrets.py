"""The Teams table: per-team settings, today the webhook signing secrets, encrypted at rest.

A team's secrets are one ciphertext (`sealedWebhookSecrets`, binary): the JSON list, encrypted by
the Cipher with the context {"teamId": <team>, "field": "webhookSecrets"}, so a ciphertext copied
to another team's row (or to another field) does not decrypt. One Decrypt per load.

Rows written before encryption hold the list in clear (`webhookSecrets`, a list of maps). They are
read as they are and rewritten encrypted on that first read (the clear attribute removed), on the
condition that the row is still in clear form: a save that got there first is never overwritten.

Every save is conditional (optimistic concurrency): it sets `webhookSecretsVersion` (a number) to
one more than the version it read, only if the row still holds that version, or, for the first
save (version 0), only if the row has none: a new team, or a row written before versions (clear,
or sealed without one). A failed condition raises Conflict and writes nothing. Rewriting a clear
row encrypted keeps its version: the list is the same.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.errors import Busy, Conflict
from taskhook.notify.secrets import SigningSecret, StoredSecrets
from taskhook.ports import Cipher

SEALED = "sealedWebhookSecrets"
CLEAR = "webhookSecrets"  # before encryption at rest; migrated on read
FIELD = "webhookSecrets"
VERSION = "webhookSecretsVersion"


class DynamoSecretStore:
    def __init__(self, client: Any, table: str, cipher: Cipher) -> None:
        self._client = client
        self._table = table
        self._cipher = cipher

    def load(self, team_id: str) -> StoredSecrets:
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=_key(team_id), ConsistentRead=True).get("Item")
        if not item:
            return StoredSecrets([])
        version = int(item[VERSION]["N"]) if VERSION in item else 0
        if SEALED in item:
            return StoredSecrets(_from_json(self._cipher.decrypt(item[SEALED]["B"], _context(team_id))), version)
        secrets = [
            SigningSecret(s["M"]["secret"]["S"], s["M"]["createdAt"]["S"], s["M"].get("expiresAt", {}).get("S"))
            for s in item.get(CLEAR, {}).get("L", [])
        ]
        if CLEAR in item:
            self._migrate(team_id, secrets)
        return StoredSecrets(secrets, version)

    def save(self, team_id: str, secrets: list[SigningSecret], seen: int = 0) -> int:
        names = {"#sealed": SEALED, "#clear": CLEAR, "#v": VERSION}
        values: dict[str, Any] = {":s": {"B": self._seal(team_id, secrets)}, ":next": {"N": str(seen + 1)}}
        if seen:
            condition = "#v = :seen"
            values[":seen"] = {"N": str(seen)}
        else:
            condition = "attribute_not_exists(#v)"
        try:
            with busy_when_throttled():
                self._client.update_item(
                    TableName=self._table, Key=_key(team_id),
                    UpdateExpression="SET #sealed = :s, #v = :next REMOVE #clear",
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if _condition_failed(exc):
                raise Conflict("The team's webhook signing secrets changed meanwhile") from None
            raise
        return seen + 1

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
            if not _condition_failed(exc):
                raise
        except Busy:
            return  # throttled (DynamoDB or KMS): the next read migrates

    def _seal(self, team_id: str, secrets: list[SigningSecret]) -> bytes:
        plaintext = json.dumps([s.public() for s in secrets], separators=(",", ":")).encode()
        return self._cipher.encrypt(plaintext, _context(team_id))


def _condition_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _key(team_id: str) -> dict[str, Any]:
    return {"teamId": {"S": team_id}}


def _context(team_id: str) -> dict[str, str]:
    return {"teamId": team_id, "field": FIELD}


def _from_json(plaintext: bytes) -> list[SigningSecret]:
    return [SigningSecret(s["secret"], s["createdAt"], s.get("expiresAt")) for s in json.loads(plaintext)]
