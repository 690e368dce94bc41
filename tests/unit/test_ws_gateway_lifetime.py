"""The local WebSocket gateway ends a connection after API Gateway's longest (2 hours), as AWS does:
the connections store takes a row not written for that long as a connection whose $disconnect was
lost (adapters/dynamo/connections.py open_count), so a local connection must not outlive it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infra import ws_server
from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS


class SilentConnection:
    """A client that never sends: the gateway waits on it until it ends the connection."""

    def __init__(self) -> None:
        self.taskhook_id = "conn-1="
        self.closed: tuple[int, str] | None = None
        self._ended = asyncio.Event()

    def __aiter__(self) -> SilentConnection:
        return self

    async def __anext__(self) -> str:
        await self._ended.wait()
        raise StopAsyncIteration

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        self._ended.set()


def test_a_connection_is_ended_going_away_after_the_longest_and_its_disconnect_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert ws_server.LONGEST_LIVE_CONNECTION_SECONDS == LONGEST_LIVE_CONNECTION_SECONDS == 2 * 3600
    monkeypatch.setattr(ws_server, "LONGEST_LIVE_CONNECTION_SECONDS", 0.05)
    disconnected: list[str] = []

    def disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
        disconnected.append(event["requestContext"]["connectionId"])
        return {"statusCode": 200}

    gateway = ws_server.WebSocketGateway.__new__(ws_server.WebSocketGateway)
    gateway.host, gateway.port, gateway.connections, gateway.loop = "127.0.0.1", 0, {}, None
    gateway.handlers = {"$disconnect": disconnect}
    gateway.timeouts = {"$disconnect": 30}
    connection = SilentConnection()

    asyncio.run(asyncio.wait_for(gateway.handle(connection), 5))  # type: ignore[arg-type]

    assert connection.closed == (1001, "Going away")
    assert disconnected == ["conn-1="] and gateway.connections == {}
