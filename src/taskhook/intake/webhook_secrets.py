"""The body of `POST /v1/webhooks/secret/rotate` (optional): `{"expirePrevious": true}` ends every
previous signing secret now (notify/secrets.py)."""

from __future__ import annotations

from taskhook.intake.validation import decode_json_object
from taskhook.model.errors import ValidationFailed


def parse_rotation(raw: bytes | str | None) -> bool:
    """Whether the rotation expires the previous secrets; no body is a plain rotation."""
    if not raw:
        return False
    body = decode_json_object(raw)
    unknown = sorted(set(body) - {"expirePrevious"})
    if unknown:
        raise ValidationFailed(f"Unknown field: {unknown[0]}")
    value = body.get("expirePrevious", False)
    if not isinstance(value, bool):
        raise ValidationFailed("expirePrevious must be a boolean")
    return value
