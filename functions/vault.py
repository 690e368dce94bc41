"""The Token Vault's REST routes (`/v1/tokens`): thin views over intake/vault.py's VaultService.
A token's value goes in (POST, PUT) and never comes out: every answer carries its `preview` only."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from taskhook.container import container

from .auth import administrator
from .responses import BODY_TYPES, endpoint, json_response

vault = Blueprint(__name__)


def _team() -> str:
    return administrator(vault.current_request).team_id


def _body() -> dict[str, Any]:
    from taskhook.intake.validation import decode_json_object

    return decode_json_object(vault.current_request.raw_body)


@vault.route("/v1/tokens", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_token() -> Response:
    team = _team()
    return json_response({"token": container().vault_service.create(team, _body()).public()}, 201)


@vault.route("/v1/tokens", methods=["GET"])
@endpoint
def list_tokens() -> Response:
    return json_response({"tokens": [t.public() for t in container().vault_service.list(_team())]})


@vault.route("/v1/tokens/{token_id}", methods=["GET"])
@endpoint
def get_token(token_id: str) -> Response:
    return json_response({"token": container().vault_service.get(_team(), token_id).public()})


@vault.route("/v1/tokens/{token_id}", methods=["PUT"], content_types=BODY_TYPES)
@endpoint
def rotate_token(token_id: str) -> Response:
    team = _team()
    return json_response({"token": container().vault_service.rotate(team, token_id, _body()).public()})


@vault.route("/v1/tokens/{token_id}", methods=["DELETE"])
@endpoint
def delete_token(token_id: str) -> Response:
    return json_response({"token": container().vault_service.delete(_team(), token_id).public(), "deleted": True})
