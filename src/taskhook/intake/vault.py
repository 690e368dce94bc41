"""The Token Vault from the client's side: store, list, read, rotate and delete a team's tokens, and
the create-time check of a task's `tok_…` header references (model/tokens.py says which values are).

A value is sealed by the Cipher (KMS) with a context naming its team and token id before it is
stored, and never leaves this module again: responses carry `preview` (at most the last 4
characters). Only the executor decrypts (run/vault.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskhook.intake.fields import only_fields
from taskhook.model.clock import iso, utcnow
from taskhook.model.errors import NotFound, ValidationFailed
from taskhook.model.headers import is_header_value
from taskhook.model.limits import MAX_TOKEN_VALUE_BYTES
from taskhook.model.tokens import (
    TOKEN_NOT_FOUND,
    VaultToken,
    check_hosts,
    check_token_name,
    new_token_id,
    not_for_host,
    preview_of,
    references,
    seal_context,
    unknown_token,
)
from taskhook.ports import Cipher, VaultStore

CREATE_FIELDS = frozenset({"name", "value", "hosts"})
ROTATE_FIELDS = frozenset({"value", "hosts"})


def check_value(value: object) -> str:
    """A value that can be sent as (part of) an HTTP header and that KMS can encrypt."""
    if value is None or value == "":
        raise ValidationFailed("value is required")
    if not isinstance(value, str):
        raise ValidationFailed("value must be a string")
    if len(value.encode("utf-8")) > MAX_TOKEN_VALUE_BYTES:
        raise ValidationFailed(f"value must be at most {MAX_TOKEN_VALUE_BYTES} bytes")
    if not is_header_value(value) or value != value.strip():
        raise ValidationFailed("value must be usable as an HTTP header value: no control characters (CR, LF, NUL), "
                               "no leading or trailing white space, only ISO-8859-1 characters")
    return value


def check_references(store: VaultStore, team_id: str, headers: dict[str, str], host: str | None) -> None:
    """400 `Unknown token tok_…` for a header that refers to no token of this team, and 400 when a
    token bound to hosts would go to another one (`host`: the task's target's). One read per
    token, however many headers name it."""
    known: set[str] = set()
    for ref in references(headers).values():
        if ref.token_id in known:
            continue
        token = store.get(team_id, ref.token_id) if ref.valid else None
        if token is None:
            raise unknown_token(ref)
        if not token.allows(host):
            raise ValidationFailed(not_for_host(ref.token_id, host))
        known.add(ref.token_id)


@dataclass
class VaultService:
    store: VaultStore
    cipher: Cipher
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = new_token_id

    def create(self, team_id: str, data: dict[str, Any]) -> VaultToken:
        only_fields(data, CREATE_FIELDS)
        name = check_token_name(data.get("name"))
        value = check_value(data.get("value"))
        hosts = check_hosts(data.get("hosts"))
        token_id = self.new_id()
        now = iso(self.clock())
        token = VaultToken(id=token_id, team_id=team_id, name=name, created_at=now, updated_at=now,
                           preview=preview_of(value), sealed=self._seal(team_id, token_id, value), hosts=hosts)
        self.store.create(token)
        return token

    def list(self, team_id: str) -> list[VaultToken]:
        return self.store.list_for_team(team_id)

    def get(self, team_id: str, token_id: str) -> VaultToken:
        token = self.store.get(team_id, token_id)
        if token is None:
            raise NotFound(TOKEN_NOT_FOUND)  # another team's token too: not theirs to know of
        return token

    def rotate(self, team_id: str, token_id: str, data: dict[str, Any]) -> VaultToken:
        """A new value, new hosts (null: any), or both; each takes effect for the next call."""
        only_fields(data, ROTATE_FIELDS)
        value = check_value(data.get("value")) if "value" in data or "hosts" not in data else None
        hosts = check_hosts(data.get("hosts"))
        token = self.get(team_id, token_id)  # 404 before spending a KMS call
        if "hosts" in data:  # first: a new value is never sent where the old hosts allowed and the new ones do not
            token = self.store.replace_hosts(team_id, token_id, hosts, iso(self.clock()))
        if value is not None:
            token = self.store.replace_value(team_id, token_id, self._seal(team_id, token_id, value),
                                             preview_of(value), iso(self.clock()))
        return token

    def delete(self, team_id: str, token_id: str) -> VaultToken:
        return self.store.delete(team_id, token_id)

    def check_references(self, team_id: str, headers: dict[str, str], host: str | None) -> None:
        check_references(self.store, team_id, headers, host)

    def _seal(self, team_id: str, token_id: str, value: str) -> bytes:
        return self.cipher.encrypt(value.encode("utf-8"), seal_context(team_id, token_id))
