"""infra/api_server.py: the local API's HTTP server sends each answer at once.

Chalice's handler writes an answer's headers and body in two sends. With Nagle's algorithm on, the
body waited for the client's delayed ACK of the headers: 40 ms on Linux on every answer of a
kept-alive connection (`make bench`'s one-client create: p50 48 ms before, 4.8 ms after, in a
scratch run of 200 creates). The server's sockets set TCP_NODELAY."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import LocalDevServer

from infra.api_server import BackloggedHTTPServer, RedactingRequestHandler


def test_the_api_server_s_sockets_send_at_once_on_a_kept_alive_connection() -> None:
    app = Chalice(app_name="nodelay")

    @app.route("/ping", methods=["POST"])
    def ping() -> dict[str, Any]:
        return {"ok": True}

    nodelay: list[int] = []

    class Recording(RedactingRequestHandler):
        def setup(self) -> None:
            super().setup()
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = LocalDevServer(app, Config.create(chalice_stage="dev", app_name="nodelay"), "127.0.0.1", 0,
                            handler_cls=Recording, server_cls=BackloggedHTTPServer)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server.server_address[1], timeout=10)
        for _ in range(3):
            connection.request("POST", "/ping", body=b"{}", headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"ok":true}') and not answer.will_close
        connection.close()
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert nodelay == [1]  # one connection for the three answers, sending at once
