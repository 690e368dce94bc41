"""`GET /v1/webhooks/secret` and `POST /v1/webhooks/secret/rotate`: the team's signing secrets."""

from __future__ import annotations

from chalice import Blueprint, Response

from taskhook.container import container

from .auth import administrator
from .responses import BODY_TYPES, endpoint, json_response

webhook_secrets = Blueprint(__name__)


def _team() -> str:
    return administrator(webhook_secrets.current_request).team_id


@webhook_secrets.route("/v1/webhooks/secret", methods=["GET"])
@endpoint
def read_secret() -> Response:
    secrets = container().team_secrets.current(_team())
    return json_response({"secrets": [s.public() for s in secrets]})


@webhook_secrets.route("/v1/webhooks/secret/rotate", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def rotate_secret() -> Response:
    """Optional body `{"expirePrevious": true}`: every earlier secret ends now (one leaked)."""
    from taskhook.intake.webhook_secrets import parse_rotation

    team = _team()
    expire = parse_rotation(webhook_secrets.current_request.raw_body)
    secrets = container().team_secrets.rotate(team, expire_previous=expire)
    return json_response({"secrets": [s.public() for s in secrets]})
