"""Live feed over WebSocket, seed 003's monitoring (API Gateway WebSocket API: $connect, $default,
$disconnect).

Connect with `?ticket=<wst_…>` (from `POST /v1/live/tickets`: single use, 30 s; it sees what the
key or client token that asked for it sees), or with `?api_key=<key>` (discouraged: a key in a URL
ends up in logs; kept for existing clients) or an `Authorization: Bearer` header, and optionally
`task_id=<id>` to watch one task; or `client_token=<ct_…>` (which authenticates by itself) to
watch every task of that client. Without `task_id`, every task the credential sees. A message
`{"action": "subscribe", "task_id": "…"}` adds a task to an open connection. What a connection may
watch, and when its credential is read again, is decided in taskhook/notify/access.py."""

from __future__ import annotations

import json
from typing import Any

from taskhook.container import container
from taskhook.model.errors import TaskhookError
from taskhook.notify.live import Opener


def _answer(status: int, message: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = {"statusCode": status, "body": json.dumps({"error": message}) if message else ""}
    return {**answer, "headers": headers} if headers else answer


def _opener(params: dict[str, str], headers: dict[str, str]) -> Opener:
    """Who connects: the client token, the api_key parameter or the bearer header (its id kept,
    never its secret, so that revoking it can find the connection)."""
    ticket = params.get("ticket")
    if ticket:
        return container().ticket_redeemer.redeem(ticket)
    token = params.get("client_token")
    if token:
        client = container().client_token_service.identify(token)
        return Opener(client.team_id, client.key_id, client_id=client.key_id)
    api_key = params.get("api_key")
    authorization = f"Bearer {api_key}" if api_key else headers.get("authorization") or headers.get("Authorization")
    key = container().api_key_service.authenticate(authorization)
    return Opener(key.team_id, key.key_id)


def connect(event: dict[str, Any]) -> dict[str, Any]:
    params = event.get("queryStringParameters") or {}
    try:
        opener = _opener(params, event.get("headers") or {})
        container().live_access.open(event["requestContext"]["connectionId"], opener, params.get("task_id"))
    except TaskhookError as exc:
        return _answer(exc.status_code, exc.message, dict(exc.headers))
    return _answer(200)


def message(event: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return _answer(400, "messages must be JSON")
    if not isinstance(body, dict) or body.get("action") != "subscribe" or not body.get("task_id"):
        return _answer(400, 'send {"action": "subscribe", "task_id": "<id>"}')
    try:
        container().live_access.subscribe(event["requestContext"]["connectionId"], str(body["task_id"]))
    except TaskhookError as exc:
        return _answer(exc.status_code, exc.message)
    return _answer(200)


def disconnect(event: dict[str, Any]) -> dict[str, Any]:
    container().connections.remove(event["requestContext"]["connectionId"])
    return _answer(200)
