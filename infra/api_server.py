"""Serves the Chalice app over real HTTP with Chalice's own local API Gateway emulation."""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from chalice import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from functions.responses import NOT_FOUND
from taskhook.model.limits import MAX_BODY_BYTES

from . import aws_calls
from .children import exit_with_parent
from .state import ROOT
from .warm import import_everything

# Requests handled at once; the others wait for a slot, as API Gateway holds requests while Lambda
# scales (on AWS the account's concurrency bounds it). Without a bound a burst of 500 creates ran 500
# handlers against the one emulator process at once: it reset connections (500s), or, with a longer
# backlog, answered none of them within two minutes.
API_CONCURRENCY = int(os.environ.get("TASKHOOK_API_CONCURRENCY", "64"))
IN_FLIGHT = threading.BoundedSemaphore(API_CONCURRENCY)
# Long polls (`GET …?wait=`) mostly sleep between reads, up to 25 s: in those 64 slots, one team's
# long polls held every other request until they ended. They have slots of their own.
LONG_POLLS = threading.BoundedSemaphore(int(os.environ.get("TASKHOOK_API_LONG_POLLS", "256")))


def is_long_poll(command: str, path: str) -> bool:
    """Whether the request waits (`GET …?wait=N`, N > 0), read as the gateway and the route read it:
    the query decoded (`%77ait=` is `wait=`), its last `wait`."""
    if command != "GET":
        return False
    waits = parse_qs(urlsplit(path).query, keep_blank_values=True).get("wait")
    try:
        return bool(waits) and float(waits[-1]) > 0
    except ValueError:
        return False

# Seed 003 puts client tokens in the path (/api/{ns}/tasks/{client_token}/…), and a waiting task's
# callback URL its secret (/v1/callbacks/{task_id}/{secret}): not in our logs.
_SECRET_IN_PATH = re.compile(r"/ct_[A-Za-z0-9_-]+")
_CALLBACK_SECRET = re.compile(r"(/v1/callbacks/[^/\s?#]+/)[^/\s?#]+")
# A credential a client put in a query (the WebSocket URL takes api_key and ticket; the API none),
# its name as the gateway reads it (decoded: `api%5Fkey` is `api_key`).
_QUERY_PARAMETER = re.compile(r"([?&])([^=&\s#\"]+)=([^&\s#\"]*)")
_SECRET_NAMES = frozenset({"api_key", "apikey", "ticket", "token", "client_token", "clienttoken", "key"})


def _masked(match: re.Match[str]) -> str:
    separator, name, _value = match.groups()
    return f"{separator}{name}=…" if unquote_plus(name).lower() in _SECRET_NAMES else match.group(0)


JSON = {"Content-Type": "application/json"}


class RouteNotFound(LocalGatewayException):
    CODE = 404


class BadRequest(LocalGatewayException):
    CODE = 400


class PayloadTooLarge(LocalGatewayException):
    CODE = 413


class TaskhookGateway(LocalGateway):
    """Chalice's stand-in for API Gateway, with the answer template.yaml's gateway responses give
    on AWS for a path no route serves: 404 `{"error": "Not found"}`. (Chalice imitates API Gateway's
    default 403, whose message repeats the request's Authorization header: the caller's API key.)"""

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:
            raise RouteNotFound({}, json.dumps({"error": NOT_FOUND}).encode()) from None


class RedactingRequestHandler(ChaliceRequestHandler):
    """Chalice's handler with our gateway, a 400 for an unreadable request, no client token in the log.

    Its sockets send at once (TCP_NODELAY): Chalice writes an answer's headers and its body in two
    sends, and with Nagle's algorithm the body waited for the client's delayed ACK of the headers,
    40 ms on Linux, on every answer of a kept-alive connection."""

    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = TaskhookGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)  # handles the request

    def _handle_readable(self) -> None:
        """Chalice reads the body by Content-Length and drops the connection when it is not a
        number; API Gateway answers 400."""
        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            self.close_connection = True
            self._send_error_response(BadRequest(JSON, json.dumps({"error": "Bad request"}).encode()))
            return
        if length > MAX_BODY_BYTES:  # every route refuses it: not read (nor held in memory) first
            self.close_connection = True
            self._send_error_response(PayloadTooLarge(JSON, json.dumps(
                {"error": f"Request body exceeds {MAX_BODY_BYTES // 1024} KB"}).encode()))
            return
        with LONG_POLLS if is_long_poll(self.command, self.path) else IN_FLIGHT:
            self._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle_readable

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a method no route takes, a malformed request line, a URI
        too long) in the API's error format instead of its HTML page; a method it has no handler
        for is what a route answers for a method it does not take: 405."""
        status = HTTPStatus.METHOD_NOT_ALLOWED if code == HTTPStatus.NOT_IMPLEMENTED else HTTPStatus(code)
        body = json.dumps({"error": "Method not allowed" if status == HTTPStatus.METHOD_NOT_ALLOWED
                           else status.phrase}).encode()
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        super().log_message(format, *(_redacted(a) if isinstance(a, str) else a for a in args))


def _redacted(text: str) -> str:
    return _QUERY_PARAMETER.sub(_masked, _CALLBACK_SECRET.sub(r"\1…", _SECRET_IN_PATH.sub("/ct_…", text)))


class BackloggedHTTPServer(ThreadedHTTPServer):
    """Many concurrent clients: the default listen backlog of 5 resets connections under load, and
    128 still reset about one in six of 500 clients connecting at once to a cold server (the kernel
    caps it at net.core.somaxconn, 4096 on current Linux)."""

    request_queue_size = 1024


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

    import_everything()  # before the threaded server serves two first requests at once: infra/warm.py

    config = Config.create(chalice_stage="dev", app_name="taskhook", project_dir=str(ROOT))
    server = LocalDevServer(app, config, args.host, args.port, handler_cls=RedactingRequestHandler,
                            server_cls=BackloggedHTTPServer)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
