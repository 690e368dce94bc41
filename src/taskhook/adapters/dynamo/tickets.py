"""WebSocket tickets in the API keys table: a row keyed by the ticket's SHA-256 (`keyHash`, as a key's
is), `kind` "ticket", and `expiresAt` (the table's TTL attribute: DynamoDB deletes a ticket nobody
used). Why this table and not one of their own: a ticket is a short-lived credential looked up by
its hash exactly as a key is, both functions that touch it (the API's, the WebSocket `$connect`'s)
already reach this table, and a table costs a template resource, a provisioning step, an IAM grant
and a config variable more. A ticket row has neither `keyId` nor `teamId` (its team is `ticketTeam`):
the keyId and byTeam indexes (sparse) never hold one.

Raw boto3, not the keys' PynamoDB model: the take is one DeleteItem with ReturnValues=ALL_OLD,
which PynamoDB's Model.delete does not return."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.tickets import TICKET_KIND, LiveTicket


class DynamoTicketStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, ticket_hash: str, ticket: LiveTicket) -> None:
        item = {"keyHash": {"S": ticket_hash}, "kind": {"S": TICKET_KIND},
                "ticketTeam": {"S": ticket.team_id}, "credentialId": {"S": ticket.credential_id},
                "expiresAt": {"N": str(int(ticket.expires_at))}}
        if ticket.client_id:
            item["clientId"] = {"S": ticket.client_id}
        with busy_when_throttled():
            # Never over a key's row (a hash collision of 256 random bits will not happen; the
            # condition makes sure a ticket can never replace a key whatever happens).
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(keyHash)")

    def take(self, ticket_hash: str) -> LiveTicket | None:
        try:
            with busy_when_throttled():
                answer = self._client.delete_item(
                    TableName=self._table, Key={"keyHash": {"S": ticket_hash}},
                    ConditionExpression="#kind = :ticket", ExpressionAttributeNames={"#kind": "kind"},
                    ExpressionAttributeValues={":ticket": {"S": TICKET_KIND}}, ReturnValues="ALL_OLD")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None  # no such ticket (taken already), or a key's hash: nothing is deleted
            raise
        item = answer.get("Attributes")
        if not item:
            return None
        return LiveTicket(team_id=item["ticketTeam"]["S"], credential_id=item["credentialId"]["S"],
                          client_id=item.get("clientId", {}).get("S"), expires_at=int(item["expiresAt"]["N"]))
