"""The Cipher port on AWS KMS: every KMS call Taskhook makes.

Secrets are small (a team's signing secrets, a vault token), so each is encrypted by KMS itself
(Encrypt / Decrypt, at most 4 KB of plaintext): the key material never leaves KMS and there is
no data key to manage. The encryption context binds each ciphertext to its row and field; Decrypt
also names the key, so a ciphertext made under any other key is refused rather than decrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.errors import Undecryptable

# KMS's answers for a ciphertext that is not this key's under this context.
NOT_DECRYPTABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsCipher:
    def __init__(self, client: Any, key_id: str) -> None:
        self._client = client
        self._key_id = key_id  # key id, key ARN, alias name or alias ARN

    def encrypt(self, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        with busy_when_throttled():
            answer = self._client.encrypt(KeyId=self._key_id, Plaintext=plaintext, EncryptionContext=dict(context))
        return bytes(answer["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        try:
            with busy_when_throttled():
                answer = self._client.decrypt(KeyId=self._key_id, CiphertextBlob=ciphertext,
                                              EncryptionContext=dict(context))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_DECRYPTABLE:
                raise Undecryptable() from None
            raise
        return bytes(answer["Plaintext"])
