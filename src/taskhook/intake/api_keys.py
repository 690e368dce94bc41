"""API keys: random bearer secrets, stored only as their SHA-256, each bound to one team."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskhook.intake.fields import only_fields
from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import (
    CLIENT_TOKEN_READS_ONLY,
    REVOKED_API_KEY,
    REVOKED_CLIENT_TOKEN,
    AccessDenied,
    NotFound,
    Unauthorized,
    ValidationFailed,
    not_an_admin,
)
from taskhook.ports import ADMIN_SCOPE, API_KEY_KIND, CLIENT_TOKEN_KIND, SCOPES, TASKS_SCOPE, ApiKey, ApiKeyRepository

KEY_PREFIX = "th_"
CLIENT_TOKEN_PREFIX = "ct_"  # noqa: S105 - a prefix, not a secret (intake/client_tokens.py makes them)
MAX_KEY_NAME = 100
_TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_team_id(team_id: str) -> None:
    if not _TEAM_ID.fullmatch(team_id):
        raise ValidationFailed("team must be 1-64 letters, digits, '.', '_' or '-'")


def hash_key(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValidationFailed(f"scope must be one of: {', '.join(SCOPES)}")
    return scope


def require_admin(key: ApiKey) -> ApiKey:
    """`key`, if it may manage its team (403 otherwise): an API key of the admin scope."""
    if key.kind != API_KEY_KIND or key.scope != ADMIN_SCOPE:
        raise AccessDenied(not_an_admin(key.scope))
    return key


def public_key(key: ApiKey) -> dict[str, object]:
    """An API key as the API shows it: never its secret nor its hash."""
    return {"id": key.key_id, "name": key.name, "scope": key.scope, "createdAt": key.created_at,
            "revokedAt": key.revoked_at}


def parse_new_key(data: Mapping[str, Any]) -> tuple[str, str]:
    """`POST /v1/keys`'s body: `{"name"?, "scope"?}` → (name, scope); the scope defaults to tasks."""
    only_fields(data, ("name", "scope"))
    name, scope = data.get("name", ""), data.get("scope", TASKS_SCOPE)
    if not isinstance(name, str) or len(name) > MAX_KEY_NAME:
        raise ValidationFailed(f"name must be a string of at most {MAX_KEY_NAME} characters")
    if not isinstance(scope, str):
        raise ValidationFailed(f"scope must be one of: {', '.join(SCOPES)}")
    return name.strip(), check_scope(scope)


def parse_bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("API key required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("API key required")
    return token.strip()


@dataclass
class ApiKeyService:
    repository: ApiKeyRepository
    clock: Callable[[], datetime] = utcnow
    # What else a revocation stops: the composition root ends the live connections it opened.
    on_revoke: Callable[[ApiKey], object] = lambda key: None

    def create(self, team_id: str, name: str = "", secret: str | None = None,
               scope: str = TASKS_SCOPE) -> tuple[str, ApiKey]:
        """A new key for `team_id` (least privilege unless asked: the tasks scope); the secret is
        returned once and never stored."""
        check_team_id(team_id)
        check_scope(scope)
        if len(name) > MAX_KEY_NAME:
            raise ValidationFailed(f"name must be at most {MAX_KEY_NAME} characters")
        secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(secret)
        key = ApiKey(key_id="key_" + digest[:12], team_id=team_id, name=name, created_at=iso(self.clock()),
                     scope=scope)
        self.repository.put(digest, key)
        return secret, key

    def revoke(self, key_id: str) -> ApiKey:
        key = self.repository.revoke(key_id, iso(self.clock()))
        self.on_revoke(key)
        return key

    def revoke_of_team(self, team_id: str, key_id: str) -> ApiKey:
        """Revoke one of the team's API keys (the caller's own included); any other id is 404."""
        key = self.repository.find_by_id(key_id) if key_id.startswith("key_") else None
        if key is None or key.team_id != team_id or key.kind != API_KEY_KIND:
            raise NotFound("API key not found")
        return self.revoke(key_id) if not key.revoked_at else self.revoked_again(key)

    def revoked_again(self, key: ApiKey) -> ApiKey:
        """A key revoked already stays as it was revoked (its `revokedAt` is when that happened);
        what a revocation ends is ended again, in case the first could not reach everything."""
        self.on_revoke(key)
        return key

    def list(self, team_id: str) -> list[ApiKey]:
        """The team's API keys, revoked ones included, oldest first."""
        keys = [k for k in self.repository.list_for_team(team_id) if k.kind == API_KEY_KIND]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def identify(self, authorization: str | None, consistent: bool = False) -> ApiKey:
        """The live API key or client token an `Authorization: Bearer …` header names (401 otherwise);
        `consistent`: read so that a revocation just made shows (a long poll's second check)."""
        secret = parse_bearer(authorization)
        key = self.repository.find_by_hash(hash_key(secret), consistent)
        if key is None or key.revoked_at or key.kind not in (API_KEY_KIND, CLIENT_TOKEN_KIND):
            raise Unauthorized(REVOKED_CLIENT_TOKEN if secret.startswith(CLIENT_TOKEN_PREFIX) else REVOKED_API_KEY)
        return key

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The API key an `Authorization: Bearer …` header names, or 401 with the seed's message;
        a client token there is 403: it reads its client's tasks and does nothing else."""
        key = self.identify(authorization)
        if key.kind != API_KEY_KIND:
            raise AccessDenied(CLIENT_TOKEN_READS_ONLY)
        return key
