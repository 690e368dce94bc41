"""`GET /v1/webhooks/secret` and `POST /v1/webhooks/secret/rotate`: the team's signing secrets."""

from __future__ import annotations

from chalice import Blueprint, Response

from taskhook.container import container
from taskhook.model.errors import ValidationFailed

from .auth import administrator
from .responses import BODY_TYPES, endpoint, json_response

webhook_secrets = Blueprint(__name__)


def _team() -> str:
    return administrator(webhook_secrets.current_request).team_id


def _expire_previous() -> bool:
    from taskhook.intake.validation import decode_json_object

    raw = webhook_secrets.current_request.raw_body
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


@webhook_secrets.route("/v1/webhooks/secret", methods=["GET"])
@endpoint
def read_secret() -> Response:
    secrets = container().team_secrets.current(_team())
    return json_response({"secrets": [s.public() for s in secrets]})


@webhook_secrets.route("/v1/webhooks/secret/rotate", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def rotate_secret() -> Response:
    """Optional body `{"expirePrevious": true}`: every earlier secret ends now (one leaked)."""
    team = _team()
    secrets = container().team_secrets.rotate(team, expire_previous=_expire_previous())
    return json_response({"secrets": [s.public() for s in secrets]})
