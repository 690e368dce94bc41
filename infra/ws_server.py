"""The local stack's WebSocket endpoint: API Gateway's WebSocket API, for one machine.

Clients connect to ws://127.0.0.1:$WS_PORT/ws?api_key=…&task_id=… or to seed 003's paths
(/ws/<namespace>/tasks/<client_token>[/<task_id>], /ws/<namespace>/task/ws/<task_id>?api_key=…);
each connect, message and disconnect invokes the same handler AWS invokes ($connect, $default,
$disconnect) with an event of the same shape. A twin of the management API
(POST /@connections/<id>) lets the stream dispatcher push to connections with the very boto3 call it makes
on AWS (apigatewaymanagementapi.post_to_connection); DELETE /@connections/<id> (delete_connection,
what a revocation calls from whichever process revokes) closes the socket, whose $disconnect then
forgets it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS

from . import aws_calls
from .children import exit_with_parent
from .runner import LambdaContext, load_handler
from .warm import import_everything
from .wiring import event_sources

SEED_PATHS = [
    (re.compile(r"^/ws/[^/]+/tasks/(?P<client_token>[^/]+)/(?P<task_id>[^/]+)/?$")),
    (re.compile(r"^/ws/[^/]+/tasks/(?P<client_token>[^/]+)/?$")),
    (re.compile(r"^/ws/[^/]+/task/ws/(?P<task_id>[^/]+)/?$")),
    (re.compile(r"^/ws/?$")),
]


def route_params(target: str) -> dict[str, str] | None:
    parts = urlsplit(target)
    for pattern in SEED_PATHS:
        match = pattern.match(parts.path)
        if match:
            return {**dict(parse_qsl(parts.query)), **{k: v for k, v in match.groupdict().items() if v}}
    return None


class WebSocketGateway:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        routes = {s.route: s for s in event_sources() if s.kind == "WebSocket"}
        self.handlers = {route: load_handler(source.handler) for route, source in routes.items()}
        self.timeouts = {route: source.timeout for route, source in routes.items()}
        self.connections: dict[str, ServerConnection] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def _event(self, route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        return {
            "requestContext": {
                "routeKey": route, "eventType": kind, "connectionId": connection_id, "apiId": "local",
                "domainName": f"{self.host}:{self.port}", "stage": "local", "requestTimeEpoch": int(time.time() * 1000),
                "messageDirection": "IN",
            },
            "isBase64Encoded": False,
            **extra,
        }

    async def _invoke(self, route: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers[route]
        context = LambdaContext(route.strip("$") or "default", self.timeouts[route])
        answer = await asyncio.to_thread(handler, event, context)
        return answer if isinstance(answer, dict) else {"statusCode": 200}

    async def process_request(self, connection: ServerConnection, request: Request) -> Any:
        params = route_params(request.path)
        if params is None:
            return connection.respond(404, "Not found\n")
        connection_id = base64.urlsafe_b64encode(secrets.token_bytes(9)).decode()
        headers = {k: v for k, v in request.headers.raw_items()}
        answer = await self._invoke("$connect", self._event(
            "$connect", connection_id, headers=headers, queryStringParameters=params or None))
        if answer.get("statusCode", 200) != 200:
            return connection.respond(int(answer["statusCode"]), (answer.get("body") or "") + "\n")
        connection.taskhook_id = connection_id  # type: ignore[attr-defined]
        return None

    async def handle(self, connection: ServerConnection) -> None:
        connection_id: str = connection.taskhook_id  # type: ignore[attr-defined]
        self.connections[connection_id] = connection
        try:
            # API Gateway's longest connection: the store takes a row older than that for a lost
            # $disconnect (adapters/dynamo/connections.py open_count), so none may outlive it here.
            async with asyncio.timeout(LONGEST_LIVE_CONNECTION_SECONDS):
                async for message in connection:
                    answer = await self._invoke("$default", self._event("$default", connection_id, body=str(message)))
                    if answer.get("statusCode", 200) != 200:
                        await connection.send(answer.get("body") or json.dumps({"error": "rejected"}))
        except TimeoutError:  # API Gateway ends every connection after 2 hours ("Going away")
            await connection.close(1001, "Going away")
        except ConnectionClosed:
            pass  # closed while answering, e.g. by a DeleteConnection for a revoked credential
        finally:
            self.connections.pop(connection_id, None)
            await self._invoke("$disconnect", self._event("$disconnect", connection_id))

    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or self.loop is None:
            return False
        future = asyncio.run_coroutine_threadsafe(connection.send(data.decode("utf-8")), self.loop)
        try:
            future.result(timeout=5)
        except Exception:  # noqa: BLE001 - a connection that cannot take it is gone
            return False
        return True

    def close(self, connection_id: str) -> bool:
        """DeleteConnection: from now on the connection takes no post (410, as API Gateway) and its
        socket closes; the close handshake finishes on the loop, without holding the caller."""
        connection = self.connections.pop(connection_id, None)
        if connection is None or self.loop is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.close(), self.loop)
        return True

    async def serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        async with serve(self.handle, self.host, self.port, process_request=self.process_request):
            await asyncio.Future()


def management_server(gateway: WebSocketGateway, host: str, port: int) -> ThreadingHTTPServer:
    """POST/DELETE /@connections/<id>, answering as API Gateway's management API does."""

    class Handler(BaseHTTPRequestHandler):
        def _connection_id(self) -> str | None:
            match = re.match(r"^(?:/[^@]*)?/@connections/([^/?]+)", self.path)
            return match.group(1) if match else None

        def _gone(self) -> None:
            body = b'{"message": "Gone"}'
            self.send_response(410)
            self.send_header("x-amzn-ErrorType", "GoneException")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _ok(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            data = self.rfile.read(int(self.headers.get("content-length") or 0))
            connection_id = self._connection_id()
            self._ok() if connection_id and gateway.post(connection_id, data) else self._gone()

        def do_DELETE(self) -> None:  # noqa: N802
            connection_id = self._connection_id()
            self._ok() if connection_id and gateway.close(connection_id) else self._gone()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--management-port", type=int, required=True)
    args = parser.parse_args(argv)
    exit_with_parent()
    aws_calls.install_from_env("websocket")  # counts AWS calls when TASKHOOK_AWS_CALL_LOG is set (bench)
    import_everything()  # the gateway runs the handlers on threads: infra/warm.py
    gateway = WebSocketGateway(args.host, args.port)
    management_server(gateway, args.host, args.management_port)
    asyncio.run(gateway.serve())


if __name__ == "__main__":
    main()
