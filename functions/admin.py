"""The team's admin routes (admin-scoped API keys only; functions/auth.py `administrator`): API keys
(`/v1/keys`), client tokens (`/v1/client-tokens`, seed 003's CLIENT_TOKEN) and the plan in force
(`GET /v1/limits`). What the operator command does, for a script or the dashboard; a secret is
answered once, at its creation, and never stored."""

from __future__ import annotations

from chalice import Blueprint, Response

from taskhook.container import container

from .auth import administrator
from .responses import BODY_TYPES, endpoint, json_response

admin = Blueprint(__name__)


def _team() -> str:
    return administrator(admin.current_request).team_id


@admin.route("/v1/keys", methods=["GET"])
@endpoint
def list_keys() -> Response:
    from taskhook.intake.api_keys import public_key

    return json_response({"keys": [public_key(k) for k in container().api_key_service.list(_team())]})


@admin.route("/v1/keys", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_key() -> Response:
    from taskhook.intake.api_keys import parse_new_key, public_key
    from taskhook.intake.validation import decode_json_object

    team = _team()
    name, scope = parse_new_key(decode_json_object(admin.current_request.raw_body))
    secret, key = container().api_key_service.create(team, name=name, scope=scope)
    return json_response({"key": public_key(key), "apiKey": secret}, 201)


@admin.route("/v1/keys/{key_id}", methods=["DELETE"])
@endpoint
def revoke_key(key_id: str) -> Response:
    """Any key of the team, the caller's own included (its next request is a 401)."""
    from taskhook.intake.api_keys import public_key

    return json_response({"key": public_key(container().api_key_service.revoke_of_team(_team(), key_id))})


@admin.route("/v1/client-tokens", methods=["GET"])
@endpoint
def list_client_tokens() -> Response:
    from taskhook.intake.client_tokens import public_client_token

    tokens = container().client_token_service.list(_team())
    return json_response({"clientTokens": [public_client_token(t) for t in tokens]})


@admin.route("/v1/client-tokens", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_client_token() -> Response:
    from taskhook.intake.client_tokens import parse_new_client_token, public_client_token
    from taskhook.intake.validation import decode_json_object

    team = _team()
    client = parse_new_client_token(decode_json_object(admin.current_request.raw_body))
    secret, token = container().client_token_service.create(team, client)
    return json_response({"clientToken": public_client_token(token), "token": secret}, 201)


@admin.route("/v1/client-tokens/{token_id}", methods=["DELETE"])
@endpoint
def revoke_client_token(token_id: str) -> Response:
    from taskhook.intake.client_tokens import public_client_token

    token = container().client_token_service.revoke_of_team(_team(), token_id)
    return json_response({"clientToken": public_client_token(token)})


@admin.route("/v1/limits", methods=["GET"])
@endpoint
def limits() -> Response:
    """The team's plan in force (`bin/taskhook teams show`'s `inForce`): its own values, else the
    deployment's defaults."""
    team = _team()
    return json_response({"team": team, "limits": container().plan_book.plan_of(team).public()})
