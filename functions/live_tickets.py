"""`POST /v1/live/tickets` (a single-use WebSocket ticket, 30 s) and `GET /v1/live` (the WebSocket
URL): for an API key of either scope or a client token (functions/auth.py `reader`). The dashboard
opens its WebSocket with `?ticket=wst_…`, never with a key in the URL."""

from __future__ import annotations

from chalice import Blueprint, Response

from taskhook.container import container

from .auth import reader
from .responses import BODY_TYPES, endpoint, json_response

live_tickets = Blueprint(__name__)


@live_tickets.route("/v1/live/tickets", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_ticket() -> Response:
    credential = reader(live_tickets.current_request).credential
    return json_response(container().live_tickets.issue(credential), 201)


@live_tickets.route("/v1/live", methods=["GET"])
@endpoint
def live() -> Response:
    reader(live_tickets.current_request)
    return json_response(container().live_tickets.where())
