"""The customer's server for the benchmarks and the soak: its own process on 127.0.0.1, so that
neither the load generator nor the systems under test share its interpreter.

    python -m bench.target --port 0 --port-file /tmp/port

Every request to any path is recorded (path, arrival time, what was answered). Faults are drawn
at random per request from the current configuration:
- `fail`  : answer 503;
- `hang`  : hold the request `hang_seconds` (past the caller's timeout), then drop the connection;
- `close` : drop the connection without answering.
A call that is answered 200 gets `{"ok": true}`, or with `answer_bytes=N` (N >= 200) a realistic
JSON document of exactly N bytes (bench/payloads.py).
Control endpoints (not recorded):
`POST /__config?fail=0.3&hang=0.02&close=0.02&hang_seconds=5&seed=1&answer_bytes=1024`,
`GET /__count?prefix=/e2e/`, `GET /__calls?prefix=/e2e/` (JSON [[path, time, answer], ...]),
`POST /__reset`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.payloads import json_document

OK_BODY = b'{"ok": true}'
FAIL_BODY = b'{"error": "unavailable"}'


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, float, str]] = []
        self.config: dict[str, float] = {"fail": 0.0, "hang": 0.0, "close": 0.0, "hang_seconds": 5.0,
                                         "answer_bytes": 0}
        self.answer = OK_BODY
        self.random = random.Random(1)

    def draw(self) -> str:
        with self.lock:
            roll = self.random.random()
        config = self.config
        if roll < config["fail"]:
            return "503"
        roll -= config["fail"]
        if roll < config["hang"]:
            return "hang"
        roll -= config["hang"]
        if roll < config["close"]:
            return "close"
        return "200"

    def record(self, path: str, answer: str) -> None:
        entry = (path, time.time(), answer)
        with self.lock:
            self.calls.append(entry)

    def matching(self, prefix: str) -> list[tuple[str, float, str]]:
        with self.lock:
            return [c for c in self.calls if c[0].startswith(prefix)]


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _control(self, path: str, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        if path == "/__config":
            for name in ("fail", "hang", "close", "hang_seconds"):
                if name in query:
                    STATE.config[name] = float(query[name][0])
            if "answer_bytes" in query:
                size = int(query["answer_bytes"][0])
                STATE.config["answer_bytes"] = size
                STATE.answer = json_document(size).encode() if size else OK_BODY
            if "seed" in query:
                with STATE.lock:
                    STATE.random = random.Random(int(query["seed"][0]))
            self._reply(200, json.dumps(STATE.config).encode())
        elif path == "/__count":
            self._reply(200, json.dumps({"count": len(STATE.matching(prefix))}).encode())
        elif path == "/__calls":
            self._reply(200, json.dumps(STATE.matching(prefix)).encode())
        elif path == "/__reset":
            with STATE.lock:
                STATE.calls.clear()
            self._reply(200, b"{}")
        else:
            self._reply(404, b"{}")

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        if parts.path.startswith("/__"):
            self._control(parts.path, parse_qs(parts.query))
            return
        answer = STATE.draw()
        STATE.record(parts.path, answer)
        if answer == "hang":
            time.sleep(STATE.config["hang_seconds"])
            self._drop()
        elif answer == "close":
            self._drop()
        elif answer == "503":
            self._reply(503, FAIL_BODY)
        else:
            self._reply(200, STATE.answer)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    args.port_file.write_text(str(server.server_address[1]))
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
