"""Serves the Chalice app over real HTTP with Chalice's own local API Gateway emulation."""

from __future__ import annotations

import argparse
import re
import threading
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer

from . import aws_calls
from .children import exit_with_parent
from .state import ROOT

# Seed 003 puts client tokens in the path (/api/{ns}/tasks/{client_token}/…): not in our logs.
_SECRET_IN_PATH = re.compile(r"/ct_[A-Za-z0-9_-]+")


class RedactingRequestHandler(ChaliceRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        super().log_message(format, *(_SECRET_IN_PATH.sub("/ct_…", a) if isinstance(a, str) else a for a in args))


class BackloggedHTTPServer(ThreadedHTTPServer):
    """Many concurrent clients: the default listen backlog of 5 resets connections under load."""

    request_queue_size = 128


def per_thread_request_state() -> None:
    """Chalice keeps the request being handled (`current_request`, `lambda_context`) on the app
    object: right on Lambda, one request per process at a time, but Chalice's local server runs
    requests in threads, and one request would read another's body. Keep them per thread."""
    local = threading.local()
    for name in ("current_request", "lambda_context"):
        setattr(Chalice, name, property(
            lambda _app, name=name: getattr(local, name, None),
            lambda _app, value, name=name: setattr(local, name, value),
        ))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    exit_with_parent()
    aws_calls.install_from_env("api")  # counts AWS calls when TASKHOOK_AWS_CALL_LOG is set (bench)
    per_thread_request_state()
    from app import app  # noqa: PLC0415 - the app reads its settings on first request

    config = Config.create(chalice_stage="dev", app_name="taskhook", project_dir=str(ROOT))
    server = LocalDevServer(app, config, args.host, args.port, handler_cls=RedactingRequestHandler,
                            server_cls=BackloggedHTTPServer)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
