"""The API Gateway management API: posting a message to an open WebSocket connection, and closing
one (a revoked credential's)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def _gone(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("GoneException", "410")


class ApiGatewayPusher:
    """Posts to connections through the API Gateway management API (or the local stack's twin)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())
        except ClientError as exc:
            if _gone(exc):
                return False
            raise
        return True

    def disconnect(self, connection_id: str) -> bool:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _gone(exc):
                return False
            raise
        return True
