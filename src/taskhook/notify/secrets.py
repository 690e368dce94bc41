"""Each team's webhook signing secrets: read, and rotate with an overlap in which both are valid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.notify.signing import new_secret
from taskhook.ports import SecretStore

ROTATION_OVERLAP = timedelta(hours=24)


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
        """A new secret signs from now on; the previous one stays valid for ROTATION_OVERLAP."""
        now = self.clock()
        previous = self.current(team_id)[0]
        secrets = [SigningSecret(new_secret(), iso(now)),
                   SigningSecret(previous.secret, previous.created_at, iso(now + ROTATION_OVERLAP))]
        self.store.save(team_id, secrets)
        return secrets

    def signing_keys(self, team_id: str) -> list[str]:
        return [s.secret for s in self.current(team_id)]
