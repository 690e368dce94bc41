"""Live feed over WebSocket, seed 003's monitoring (API Gateway WebSocket API: $connect, $default,
$disconnect).

Connect with `?api_key=<key>` (or an `Authorization: Bearer` header) and optionally
`task_id=<id>` to watch one task, or `client_token=<ct_…>` (which authenticates by itself) to
watch every task of that client; with neither, every task of the key's team. A message
`{"action": "subscribe", "task_id": "…"}` adds a task to an open connection."""

from __future__ import annotations

import json
from typing import Any

from taskhook.container import container
from taskhook.model.errors import TaskhookError, Unauthorized
from taskhook.notify.live import Subscription, client_topic, task_topic, team_topic


def _answer(status: int, message: str = "") -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps({"error": message}) if message else ""}


def _identity(params: dict[str, str], headers: dict[str, str]) -> tuple[str, str | None]:
    """(team, client id) from the client token, the api_key parameter or the bearer header."""
    token = params.get("client_token")
    if token:
        client = container().client_token_service.identify(token)
        return client.team_id, client.key_id
    api_key = params.get("api_key")
    authorization = f"Bearer {api_key}" if api_key else headers.get("authorization") or headers.get("Authorization")
    return container().api_key_service.authenticate(authorization).team_id, None


def connect(event: dict[str, Any]) -> dict[str, Any]:
    context = event["requestContext"]
    params = event.get("queryStringParameters") or {}
    try:
        team_id, client_id = _identity(params, event.get("headers") or {})
        task_id = params.get("task_id")
        if task_id:
            task = container().task_service.get(team_id, task_id)
            if client_id and getattr(task, "clientId", None) != client_id:
                raise Unauthorized("Access denied")
            topic = task_topic(task_id)
        else:
            topic = client_topic(client_id) if client_id else team_topic(team_id)
    except TaskhookError as exc:
        return _answer(exc.status_code, exc.message)
    container().connections.add(Subscription(context["connectionId"], team_id, topic))
    return _answer(200)


def message(event: dict[str, Any]) -> dict[str, Any]:
    context = event["requestContext"]
    try:
        body = json.loads(event.get("body") or "{}")
    except ValueError:
        return _answer(400, "messages must be JSON")
    if not isinstance(body, dict) or body.get("action") != "subscribe" or not body.get("task_id"):
        return _answer(400, 'send {"action": "subscribe", "task_id": "<id>"}')
    connections = container().connections
    team_id = connections.team_of(context["connectionId"])
    if team_id is None:
        return _answer(401, "connection is not authenticated")
    try:
        container().task_service.get(team_id, str(body["task_id"]))
    except TaskhookError as exc:
        return _answer(exc.status_code, exc.message)
    connections.add(Subscription(context["connectionId"], team_id, task_topic(str(body["task_id"]))))
    return _answer(200)


def disconnect(event: dict[str, Any]) -> dict[str, Any]:
    container().connections.remove(event["requestContext"]["connectionId"])
    return _answer(200)
