"""Each team's webhook signing secrets: read, and rotate with an overlap in which old and new are valid.

A rotation makes a new secret the signing one; the secret it supersedes stays valid for
ROTATION_OVERLAP from that moment, and so does every earlier one for its own overlap: a receiver
that still holds any of them verifies (every secret in force signs, notify/signing.py). At most
MAX_SECRETS_IN_FORCE are valid at once (the signing one and the superseded ones not yet expired):
one more rotation inside that window is refused (409) until the oldest expires, rather than
cutting a receiver's overlap short. Each signature costs ~50 bytes of `webhook-signature`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.model.errors import Conflict
from taskhook.notify.signing import new_secret
from taskhook.ports import SecretStore

ROTATION_OVERLAP = timedelta(hours=24)
MAX_SECRETS_IN_FORCE = 5


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: str
    expires_at: str | None = None

    def public(self) -> dict[str, str]:
        out = {"secret": self.secret, "createdAt": self.created_at}
        if self.expires_at:
            out["expiresAt"] = self.expires_at
        return out


@dataclass
class TeamSecretsService:
    store: SecretStore
    clock: Callable[[], datetime] = utcnow

    def current(self, team_id: str) -> list[SigningSecret]:
        """The secrets in force, newest first; a team's first secret is made on first use."""
        now = self.clock()
        secrets = [s for s in self.store.load(team_id) if not s.expires_at or parse_iso(s.expires_at) > now]
        if not secrets:
            secrets = [SigningSecret(new_secret(), iso(now))]
            self.store.save(team_id, secrets)
        return secrets

    def rotate(self, team_id: str) -> list[SigningSecret]:
        """A new secret signs from now on; the one it supersedes stays valid for ROTATION_OVERLAP,
        and each earlier one until its own expiry. Raises Conflict (nothing changes) when
        MAX_SECRETS_IN_FORCE are already valid."""
        now = self.clock()
        signing, *previous = self.current(team_id)
        if 1 + len(previous) >= MAX_SECRETS_IN_FORCE:
            oldest = min((parse_iso(s.expires_at) for s in previous if s.expires_at), default=now)
            raise Conflict(f"Too many rotations: at most {MAX_SECRETS_IN_FORCE} signing secrets are valid at once; "
                           f"the oldest previous one expires at {iso(oldest)}")
        superseded = replace(signing, expires_at=signing.expires_at or iso(now + ROTATION_OVERLAP))
        secrets = [SigningSecret(new_secret(), iso(now)), superseded, *previous]
        self.store.save(team_id, secrets)
        return secrets

    def signing_keys(self, team_id: str) -> list[str]:
        return [s.secret for s in self.current(team_id)]
