"""A waiting task's one-time callback URL: `<public base>/v1/callbacks/<task id>/<secret>`.

The secret is random (32 bytes, URL-safe) and lives only in the URL sent to the target (header
`Taskhook-Callback-Url`); the row keeps its SHA-256 (`Task.callbackHash`), so neither a read of
the table nor a log holds a usable callback. The task id in the path finds the row without a
scan; the hash is compared in constant time. Single use: completing the task removes the hash
and the task is no longer `waiting` (model/lifecycle.py `complete_waiting`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CALLBACK_HEADER = "Taskhook-Callback-Url"
CALLBACK_PATH = "/v1/callbacks"
SECRET_BYTES = 32
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet. Anything else is refused
# before the table is read (a flood of made-up URLs costs no read).
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_TASK_ID_SHAPE = re.compile(r"[A-Za-z0-9-]{1,64}")


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def callback_url(public_base: str, task_id: str, secret: str) -> str:
    return f"{public_base.rstrip('/')}{CALLBACK_PATH}/{task_id}/{secret}"


def well_formed(task_id: str, secret: str) -> bool:
    """Whether the path could be one we made (checked before any read)."""
    return bool(_TASK_ID_SHAPE.fullmatch(task_id) and _SECRET_SHAPE.fullmatch(secret))


def matches(stored_hash: str | None, secret: str) -> bool:
    """Whether `secret` is the one whose hash the task stores (constant-time compare)."""
    if not stored_hash:
        # Compare anyway: a task without a hash answers as slowly as one with a wrong secret.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return False
    return hmac.compare_digest(hash_secret(secret), stored_hash)
