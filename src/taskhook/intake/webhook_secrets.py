"""The body of `POST /v1/webhooks/secret/rotate` (optional): `{"expirePrevious": true}` ends every
previous signing secret now (notify/secrets.py)."""

from __future__ import annotations

from taskhook.intake.fields import only_fields
from taskhook.intake.validation import decode_json_object
from taskhook.model.errors import ValidationFailed


def parse_rotation(raw: bytes | str | None) -> bool:
    """Whether the rotation expires the previous secrets; no body is a plain rotation."""
    if not raw:
        return False
    body = decode_json_object(raw)
    only_fields(body, ("expirePrevious",))
    value = body.get("expirePrevious", False)
    if not isinstance(value, bool):
        raise ValidationFailed("expirePrevious must be a boolean")
    return value
