"""A scriptable HTTP target on 127.0.0.1 that records every call: the customer's server in tests.

    with TargetServer() as target:
        url = target.url("/a", script=[503, 503, 200])   # answers in this order, then repeats the last
        ...
        target.calls("/a")                                # [Call(...), ...]

A script step is a status code, or a dict: {"status": 429, "headers": {"Retry-After": "1"}},
{"sleep": 3} (answer 200 after sleeping), {"hang": True} (hold the request until release()),
{"close": True} (close the connection without answering), {"body": "..."} (str or bytes; a
"Content-Type" in "headers" replaces the default application/json).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    at: float  # time.time() when the request arrived
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Route:
    script: list[Any]
    calls: list[Call] = field(default_factory=list)


class TargetServer:
    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._arrived = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                step = server._record(Call(time.time(), self.command, self.path, dict(self.headers), body), path)
                if isinstance(step, int):
                    step = {"status": step}
                if step.get("hang"):
                    server._released.wait(120)
                    self.close_connection = True
                    return
                if step.get("close"):
                    self.close_connection = True
                    self.connection.close()
                    return
                if step.get("sleep"):
                    time.sleep(step["sleep"])
                body = step.get("body", '{"ok": true}')
                payload = body if isinstance(body, bytes) else body.encode()
                headers = step.get("headers", {})
                self.send_response(step.get("status", 200))
                if not any(name.lower() == "content-type" for name in headers):
                    self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _record(self, call: Call, path: str) -> Any:
        with self._lock:
            route = self._routes.setdefault(path, _Route([200]))
            route.calls.append(call)
            index = min(len(route.calls) - 1, len(route.script) - 1)
            step = route.script[index]
        with self._arrived:
            self._arrived.notify_all()
        return step

    def url(self, path: str, script: list[Any] | None = None) -> str:
        with self._lock:
            self._routes[path] = _Route(list(script or [200]))
        return self.base + path

    def calls(self, path: str) -> list[Call]:
        with self._lock:
            return list(self._routes.get(path, _Route([200])).calls)

    def wait_for_calls(self, path: str, count: int, timeout: float) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.calls(path)) < count and time.monotonic() < deadline:
                self._arrived.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        return self.calls(path)

    def release(self) -> None:
        self._released.set()

    def __enter__(self) -> TargetServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
