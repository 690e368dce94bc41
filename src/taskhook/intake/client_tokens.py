"""Client tokens (seed 003's CLIENT_TOKEN): one per client of a team, for all of that client's tasks.

Made like API keys (`taskhook client-tokens create --team T --client NAME` prints a `ct_…` secret
once; only its SHA-256 is stored, in the API keys table with kind "client"). A task started
through `/api/{namespace}/tasks/{client_token}/start/{task_name}` carries the token's id
(`clientId`), which is how a client's tasks are found again. The route also requires the
team's Bearer key: a token identifies a client, it does not authenticate one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskhook.intake.api_keys import check_team_id, hash_key
from taskhook.intake.fields import only_fields
from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import REVOKED_CLIENT_TOKEN, AccessDenied, NotFound, Unauthorized, ValidationFailed
from taskhook.model.limits import MAX_CLIENT_NAME
from taskhook.ports import CLIENT_TOKEN_KIND, TASKS_SCOPE, ApiKey, ApiKeyRepository

TOKEN_PREFIX = "ct_"  # noqa: S105 - a prefix, not a secret
TOKEN_ID_PREFIX = "cli_"  # noqa: S105


@dataclass
class ClientTokenService:
    repository: ApiKeyRepository
    clock: Callable[[], datetime] = utcnow
    # What else a revocation stops: the composition root ends the live connections it opened.
    on_revoke: Callable[[ApiKey], object] = lambda key: None

    def create(self, team_id: str, client: str) -> tuple[str, ApiKey]:
        """A new token for `client` of `team_id`; the secret is returned once and never stored."""
        check_team_id(team_id)
        client = client.strip()
        if not 0 < len(client) <= MAX_CLIENT_NAME:
            raise ValidationFailed(f"client must be 1-{MAX_CLIENT_NAME} characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(secret)
        token = ApiKey(key_id=TOKEN_ID_PREFIX + digest[:12], team_id=team_id, name=client,
                       created_at=iso(self.clock()), kind=CLIENT_TOKEN_KIND, scope=TASKS_SCOPE)
        self.repository.put(digest, token)
        return secret, token

    def authenticate(self, team_id: str, secret: str) -> ApiKey:
        """The token `secret` names, if it is live and belongs to `team_id`."""
        token = self.repository.find_by_hash(hash_key(secret)) if secret.startswith(TOKEN_PREFIX) else None
        if token is None or token.revoked_at or token.kind != CLIENT_TOKEN_KIND:
            raise Unauthorized(REVOKED_CLIENT_TOKEN)
        if token.team_id != team_id:
            raise AccessDenied()
        return token

    def identify(self, secret: str) -> ApiKey:
        """The live token `secret` names, whatever its team (a client token is a credential by
        itself, as seed 003's WebSocket paths use it)."""
        token = self.repository.find_by_hash(hash_key(secret)) if secret.startswith(TOKEN_PREFIX) else None
        if token is None or token.revoked_at or token.kind != CLIENT_TOKEN_KIND:
            raise Unauthorized(REVOKED_CLIENT_TOKEN)
        return token

    def revoke_of_team(self, team_id: str, token_id: str) -> ApiKey:
        """Revoke one of the team's client tokens; any other id (another team's too) is 404."""
        token = self.repository.find_by_id(token_id) if token_id.startswith(TOKEN_ID_PREFIX) else None
        if token is None or token.team_id != team_id or token.kind != CLIENT_TOKEN_KIND:
            raise NotFound("Client token not found")
        if token.revoked_at:  # revoked already: kept as it was revoked (ApiKeyService.revoked_again)
            self.on_revoke(token)
            return token
        return self.revoke(token_id)

    def revoke(self, token_id: str) -> ApiKey:
        if not token_id.startswith(TOKEN_ID_PREFIX):
            raise NotFound("Client token not found")
        token = self.repository.revoke(token_id, iso(self.clock()))
        self.on_revoke(token)
        return token

    def list(self, team_id: str) -> list[ApiKey]:
        """The team's client tokens, revoked ones included, oldest first."""
        tokens = [k for k in self.repository.list_for_team(team_id) if k.kind == CLIENT_TOKEN_KIND]
        return sorted(tokens, key=lambda k: (k.created_at, k.key_id))


def parse_new_client_token(data: Mapping[str, Any]) -> str:
    """`POST /v1/client-tokens`'s body: `{"client"}` → the client's name (checked again by create)."""
    only_fields(data, ("client",))
    client = data.get("client")
    if not isinstance(client, str):
        raise ValidationFailed(f"client must be 1-{MAX_CLIENT_NAME} characters")
    return client


def public_client_token(token: ApiKey) -> dict[str, object]:
    """A client token as the API shows it: its id and client, never its secret nor its hash."""
    return {"id": token.key_id, "client": token.name, "createdAt": token.created_at, "revokedAt": token.revoked_at}
