"""A slow HTTP target on 127.0.0.1 that counts the requests in flight at once, per path prefix (the
first path segment): the proof that a team's share or a destination's limit held at the target.

    with CountingTarget(seconds=0.2) as target:
        url = target.url("/a/1")
        ...
        target.most_at_once("/a/")     # the largest number of /a/… requests in flight together
        target.calls_by_path("/a/")    # {path: how many times it was called}
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CountingTarget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._most: Counter[str] = Counter()
        self._calls: Counter[str] = Counter()
        self._finished: list[tuple[str, float]] = []  # (path, time.time() when answered)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                prefix = "/" + path.strip("/").split("/", 1)[0] + "/"
                with server._lock:
                    server._calls[path] += 1
                    server._in_flight[prefix] += 1
                    server._most[prefix] = max(server._most[prefix], server._in_flight[prefix])
                try:
                    time.sleep(server.seconds if prefix != "/fast/" else 0)
                    payload = b'{"ok": true}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with server._lock:
                        server._in_flight[prefix] -= 1
                        server._finished.append((path, time.time()))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        """A URL on this target; paths under /fast/ answer at once, every other after `seconds`."""
        return self.base + path

    def most_at_once(self, prefix: str) -> int:
        with self._lock:
            return self._most[prefix]

    def calls_by_path(self, prefix: str) -> dict[str, int]:
        with self._lock:
            return {p: n for p, n in self._calls.items() if p.startswith(prefix)}

    def answered(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self._finished if p.startswith(prefix))

    def __enter__(self) -> CountingTarget:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
