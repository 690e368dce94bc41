"""The API Gateway management API: posting a message to an open WebSocket connection."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class ApiGatewayPusher:
    """Posts to connections through the API Gateway management API (or the local stack's twin)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("GoneException", "410"):
                return False
            raise
        return True
