"""API keys: random bearer secrets, stored only as their SHA-256, each bound to one team."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import REVOKED_API_KEY, Unauthorized, ValidationFailed
from taskhook.ports import API_KEY_KIND, ApiKey, ApiKeyRepository

KEY_PREFIX = "th_"
_TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_team_id(team_id: str) -> None:
    if not _TEAM_ID.fullmatch(team_id):
        raise ValidationFailed("team must be 1-64 letters, digits, '.', '_' or '-'")


def hash_key(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


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

    def create(self, team_id: str, name: str = "", secret: str | None = None) -> tuple[str, ApiKey]:
        """A new key for `team_id`; the secret is returned once and never stored."""
        check_team_id(team_id)
        secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(secret)
        key = ApiKey(key_id="key_" + digest[:12], team_id=team_id, name=name, created_at=iso(self.clock()))
        self.repository.put(digest, key)
        return secret, key

    def revoke(self, key_id: str) -> ApiKey:
        key = self.repository.revoke(key_id, iso(self.clock()))
        self.on_revoke(key)
        return key

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key an `Authorization: Bearer …` header names, or 401 with the seed's message."""
        secret = parse_bearer(authorization)
        key = self.repository.find_by_hash(hash_key(secret))
        if key is None or key.revoked_at or key.kind != API_KEY_KIND:  # a client token is no API key
            raise Unauthorized(REVOKED_API_KEY)
        return key
