"""The Vault table: a team's stored tokens, their values sealed by the Cipher (never in clear).

Rows share the team's partition (teamId HASH, id RANGE):
- a token: id `tok_…`, with name, createdAt, updatedAt, preview and `sealed` (binary ciphertext);
- a name's reservation: id `name#<name, case-folded>`, with the tokenId that holds it;
- the team's counter: id `#count`, with `tokens`, the number of tokens stored.

A create is one TransactWriteItems of the three (the token and the name only if absent, the counter
only if below the cap) and a delete another (all three): names stay unique and the cap holds under
creates at once, in any number of processes. Of two transactions on one team's counter at once
DynamoDB cancels one (TransactionConflict): it is tried again, a few times, then Busy.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import DYNAMODB_THROTTLED, busy_when_throttled
from taskhook.model.errors import Busy, Conflict, NotFound
from taskhook.model.limits import MAX_TOKENS_PER_TEAM
from taskhook.model.tokens import (
    TOKEN_NOT_FOUND,
    TOKEN_PREFIX,
    VaultToken,
    is_token_id,
    name_key,
    name_taken,
    too_many_tokens,
)

COUNTER = "#count"
NAME_PREFIX = "name#"
TRANSACT_ATTEMPTS = 5


class DynamoVaultStore:
    def __init__(self, client: Any, table: str, cap: int = MAX_TOKENS_PER_TEAM,
                 pause: float = 0.05) -> None:
        self._client = client
        self._table = table
        self._cap = cap
        self._pause = pause

    def create(self, token: VaultToken) -> None:
        """Store a new token; Conflict when the team has a token of that name, ValidationFailed
        when it has the cap's number already. Nothing is written in either case."""
        team = {"S": token.team_id}
        items = [
            {"Put": {"TableName": self._table, "Item": _item(token),
                     "ConditionExpression": "attribute_not_exists(id)"}},
            {"Put": {"TableName": self._table,
                     "Item": {"teamId": team, "id": {"S": NAME_PREFIX + name_key(token.name)},
                              "tokenId": {"S": token.id}},
                     "ConditionExpression": "attribute_not_exists(id)"}},
            {"Update": {"TableName": self._table, "Key": {"teamId": team, "id": {"S": COUNTER}},
                        "UpdateExpression": "ADD #n :one",
                        "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                        "ExpressionAttributeNames": {"#n": "tokens"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":cap": {"N": str(self._cap)}}}},
        ]
        failed = self._transact(items)
        if failed == 1:
            raise name_taken(token.name)
        if failed == 2:
            raise too_many_tokens(self._cap)
        if failed == 0:
            raise Conflict("Token id already in use")  # 96 random bits: not expected

    def get(self, team_id: str, token_id: str) -> VaultToken | None:
        """The token as stored now (a strongly consistent read: a rotation or a delete just made shows)."""
        if not is_token_id(token_id):  # nothing else is a token's row (and a long one is no valid key)
            return None
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=_key(team_id, token_id),
                                         ConsistentRead=True).get("Item")
        return _token(item) if item else None

    def list_for_team(self, team_id: str) -> list[VaultToken]:
        """The team's tokens, oldest first (at most the cap: a page or two)."""
        tokens: list[VaultToken] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "teamId = :t AND begins_with(id, :p)",
            "ExpressionAttributeValues": {":t": {"S": team_id}, ":p": {"S": TOKEN_PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            with busy_when_throttled():
                page = self._client.query(**kwargs)
            tokens.extend(_token(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(tokens, key=lambda t: (t.created_at, t.id))

    def replace_value(self, team_id: str, token_id: str, sealed: bytes, preview: str, updated_at: str) -> VaultToken:
        """A rotation: the new sealed value, only on a token that exists (NotFound otherwise)."""
        return self._update(team_id, token_id, "SET sealed = :s, preview = :p, updatedAt = :u",
                            {":s": {"B": sealed}, ":p": {"S": preview}, ":u": {"S": updated_at}})

    def replace_hosts(self, team_id: str, token_id: str, hosts: tuple[str, ...] | None,
                      updated_at: str) -> VaultToken:
        """The hosts it may be sent to (None: any), only on a token that exists (NotFound otherwise)."""
        if hosts is None:
            return self._update(team_id, token_id, "SET updatedAt = :u REMOVE hosts", {":u": {"S": updated_at}})
        return self._update(team_id, token_id, "SET hosts = :h, updatedAt = :u",
                            {":h": _hosts(hosts), ":u": {"S": updated_at}})

    def _update(self, team_id: str, token_id: str, expression: str, values: dict[str, Any]) -> VaultToken:
        """One change of an existing token's row; NotFound when there is none."""
        if not is_token_id(token_id):
            raise NotFound(TOKEN_NOT_FOUND)
        try:
            with busy_when_throttled():
                answer = self._client.update_item(
                    TableName=self._table, Key=_key(team_id, token_id), UpdateExpression=expression,
                    ConditionExpression="attribute_exists(id)", ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise NotFound(TOKEN_NOT_FOUND) from None
            raise
        return _token(answer["Attributes"])

    def delete(self, team_id: str, token_id: str) -> VaultToken:
        """Remove the token, its name and one from the counter at once (NotFound for none)."""
        token = self.get(team_id, token_id)
        if token is None:
            raise NotFound(TOKEN_NOT_FOUND)
        team = {"S": team_id}
        items = [
            {"Delete": {"TableName": self._table, "Key": _key(team_id, token_id),
                        "ConditionExpression": "attribute_exists(id)"}},
            {"Delete": {"TableName": self._table,
                        "Key": {"teamId": team, "id": {"S": NAME_PREFIX + name_key(token.name)}},
                        "ConditionExpression": "tokenId = :id",
                        "ExpressionAttributeValues": {":id": {"S": token_id}}}},
            {"Update": {"TableName": self._table, "Key": {"teamId": team, "id": {"S": COUNTER}},
                        "UpdateExpression": "ADD #n :minus", "ExpressionAttributeNames": {"#n": "tokens"},
                        "ExpressionAttributeValues": {":minus": {"N": "-1"}}}},
        ]
        if self._transact(items) is not None:
            raise NotFound(TOKEN_NOT_FOUND)  # deleted meanwhile by another request
        return token

    def _transact(self, items: list[dict[str, Any]]) -> int | None:
        """Run the transaction; None when it was written, else the index of the item whose
        condition failed. A conflict with another transaction is retried; throttling is Busy."""
        for attempt in range(TRANSACT_ATTEMPTS):
            try:
                with busy_when_throttled():
                    self._client.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in codes:
                    return codes.index("ConditionalCheckFailed")
                if any(c in DYNAMODB_THROTTLED or c == "ThrottlingError" for c in codes):
                    raise Busy() from None
                if attempt + 1 < TRANSACT_ATTEMPTS:
                    time.sleep(self._pause * (attempt + 1))  # TransactionConflict: another one at once
        raise Busy("The team's token vault is being changed by other requests; retry shortly")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _key(team_id: str, row_id: str) -> dict[str, Any]:
    return {"teamId": {"S": team_id}, "id": {"S": row_id}}


def _item(token: VaultToken) -> dict[str, Any]:
    return {
        **_key(token.team_id, token.id),
        "name": {"S": token.name}, "createdAt": {"S": token.created_at}, "updatedAt": {"S": token.updated_at},
        "preview": {"S": token.preview}, "sealed": {"B": token.sealed},
        **({"hosts": _hosts(token.hosts)} if token.hosts is not None else {}),
    }


def _hosts(hosts: tuple[str, ...]) -> dict[str, Any]:
    return {"L": [{"S": host} for host in hosts]}


def _token(item: dict[str, Any]) -> VaultToken:
    return VaultToken(
        id=item["id"]["S"], team_id=item["teamId"]["S"], name=item["name"]["S"],
        created_at=item["createdAt"]["S"], updated_at=item["updatedAt"]["S"], preview=item["preview"]["S"],
        sealed=bytes(item["sealed"]["B"]),
        hosts=tuple(h["S"] for h in item["hosts"]["L"]) if "hosts" in item else None,
    )
