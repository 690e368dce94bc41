"""A TCP port on 127.0.0.x that counts the connections made to it and never answers: the SSRF tests'
proof that a refused destination received nothing."""

from __future__ import annotations

import socket


class Listener:
    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self._count = 0

    def connections(self) -> int:
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return self._count
            self._count += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
