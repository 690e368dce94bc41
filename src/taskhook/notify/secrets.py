"""Each team's webhook signing secrets: read, and rotate with an overlap in which old and new are valid.

A rotation makes a new secret the signing one; the secret it supersedes stays valid for
ROTATION_OVERLAP from that moment, and so does every earlier one for its own overlap: a receiver
that still holds any of them verifies (every secret in force signs, notify/signing.py). At most
MAX_SECRETS_IN_FORCE are valid at once (the signing one and the superseded ones not yet expired):
one more rotation inside that window is refused (409) until the oldest expires, rather than
cutting a receiver's overlap short, unless it says to expire the previous ones (a leaked secret):
then the new secret alone is valid, at once. Each signature costs ~50 bytes of `webhook-signature`.

Callers at once (two Lambdas, the deliverer and a `GET`) never overwrite each other: each save names
the version it read (SecretStore), and one that finds another save came first reads again, up to
SAVE_ATTEMPTS times (then Busy, 503). A first use that lost returns the secret the winner stored,
so every caller hands out the one secret that signs; a rotation that lost is made again on the list
now stored, so two rotations at once add two secrets, both in force, the newer signing, and each
caller returns the list it stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from taskhook.model.clock import iso, parse_iso, utcnow
from taskhook.model.errors import Busy, Conflict
from taskhook.notify.signing import new_secret
from taskhook.ports import SecretStore

ROTATION_OVERLAP = timedelta(hours=24)
MAX_SECRETS_IN_FORCE = 5
SAVE_ATTEMPTS = 5  # loads and conditional saves per call before giving up (Busy)


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


@dataclass(frozen=True)
class StoredSecrets:
    """A team's secrets as loaded, and the version a save of what follows from them must name."""

    secrets: list[SigningSecret]
    version: int = 0


@dataclass
class TeamSecretsService:
    store: SecretStore
    clock: Callable[[], datetime] = utcnow

    def current(self, team_id: str) -> list[SigningSecret]:
        """The secrets in force, newest first; a team's first secret is made on first use (if
        another caller made it meanwhile, that one)."""
        for _ in range(SAVE_ATTEMPTS):
            stored = self.store.load(team_id)
            now = self.clock()
            secrets = _in_force(stored.secrets, now)
            if secrets:
                return secrets
            secrets = [SigningSecret(new_secret(), iso(now))]
            if self._saved(team_id, secrets, stored.version):
                return secrets
        raise _contended()

    def rotate(self, team_id: str, expire_previous: bool = False) -> list[SigningSecret]:
        """A new secret signs from now on; the one it supersedes stays valid for ROTATION_OVERLAP,
        and each earlier one until its own expiry (a team with none gets its first). Returns the
        list stored. Raises Conflict (nothing changes) when MAX_SECRETS_IN_FORCE are already valid.
        With `expire_previous` (a secret leaked), every earlier secret ends now: the new one alone
        is valid, whatever the cap."""
        for _ in range(SAVE_ATTEMPTS):
            stored = self.store.load(team_id)
            now = self.clock()
            in_force = [] if expire_previous else _in_force(stored.secrets, now)
            secrets = _rotated(in_force, now)
            if self._saved(team_id, secrets, stored.version):
                return secrets
        raise _contended()

    def signing_keys(self, team_id: str) -> list[str]:
        return [s.secret for s in self.current(team_id)]

    def _saved(self, team_id: str, secrets: list[SigningSecret], seen: int) -> bool:
        """Whether the save landed; False when another caller's came first (read again)."""
        try:
            self.store.save(team_id, secrets, seen)
        except Conflict:
            return False
        return True


def _in_force(secrets: list[SigningSecret], now: datetime) -> list[SigningSecret]:
    return [s for s in secrets if not s.expires_at or parse_iso(s.expires_at) > now]


def _rotated(in_force: list[SigningSecret], now: datetime) -> list[SigningSecret]:
    fresh = SigningSecret(new_secret(), iso(now))
    if not in_force:
        return [fresh]
    signing, *previous = in_force
    if 1 + len(previous) >= MAX_SECRETS_IN_FORCE:
        oldest = min((parse_iso(s.expires_at) for s in previous if s.expires_at), default=now)
        raise Conflict(f"Too many rotations: at most {MAX_SECRETS_IN_FORCE} signing secrets are valid at once; "
                       f"the oldest previous one expires at {iso(oldest)}")
    superseded = replace(signing, expires_at=signing.expires_at or iso(now + ROTATION_OVERLAP))
    return [fresh, superseded, *previous]


def _contended() -> Busy:
    return Busy("The team's webhook signing secrets are being changed by another request; retry shortly")
