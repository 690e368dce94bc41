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
    secrets = container().team_secrets.rotate(_team())
    return json_response({"secrets": [s.public() for s in secrets]})
