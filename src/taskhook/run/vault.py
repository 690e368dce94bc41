"""Resolving a task's `tok_…` header references just before its call (model/tokens.py: the forms).

Every resolution reads the token's row (strongly consistent), so a rotation or a delete takes
effect for the very next task; only the decryption is cached, keyed by (team, token id,
ciphertext): a rotated value is a new ciphertext, and a ciphertext copied to another token's row
does not hit another token's entry (KMS's context binding would refuse it anyway). The cache is
bounded (least recently used out) and lives as long as the executor's process.
"""

from __future__ import annotations

from functools import lru_cache

from taskhook.model.errors import TaskhookError, Undecryptable
from taskhook.model.tokens import not_for_host, references, seal_context
from taskhook.ports import Cipher, VaultStore

DECRYPT_CACHE_SIZE = 1000


class TokenUnavailable(TaskhookError):
    """A reference the executor cannot resolve (deleted token, undecryptable row): the task fails
    without a call. The message names the token id, never a value."""


class TokenResolver:
    def __init__(self, store: VaultStore, cipher: Cipher, cache_size: int = DECRYPT_CACHE_SIZE) -> None:
        self._store = store
        self._cipher = cipher
        self._decrypt = lru_cache(maxsize=cache_size)(self._decrypt_uncached)

    def resolve(self, team_id: str, headers: dict[str, str], host: str | None) -> dict[str, str]:
        """`headers` with each reference replaced by its secret (scheme kept), for a request to
        `host`. Raises TokenUnavailable for a token that is gone, does not decrypt, or is bound to
        other hosts; Busy when DynamoDB or KMS throttles (the attempt is retried)."""
        found = references(headers)
        if not found:
            return headers
        resolved = dict(headers)
        by_id: dict[str, str] = {}  # the secret by token id: one read per token, however many headers name it
        for name, ref in found.items():
            secret = by_id.get(ref.token_id)
            if secret is None:
                secret = by_id[ref.token_id] = self._secret(team_id, name, ref.token_id, ref.valid, host)
            resolved[name] = ref.with_secret(secret)
        return resolved

    def _secret(self, team_id: str, header: str, token_id: str, valid: bool, host: str | None) -> str:
        token = self._store.get(team_id, token_id) if valid else None
        if token is None:
            raise TokenUnavailable(f"Token {token_id} not found (deleted?): header {header} not sent, "
                                   "no request made")
        if not token.allows(host):
            raise TokenUnavailable(f"{not_for_host(token_id, host)}: header {header} not sent, no request made")
        try:
            return self._decrypt(team_id, token.id, token.sealed)
        except Undecryptable:
            raise TokenUnavailable(f"Token {token_id} could not be decrypted: no request made") from None

    def decryptions(self) -> int:
        """Cipher calls made so far (cache misses)."""
        return self._decrypt.cache_info().misses

    def _decrypt_uncached(self, team_id: str, token_id: str, sealed: bytes) -> str:
        return self._cipher.decrypt(sealed, seal_context(team_id, token_id)).decode("utf-8")
