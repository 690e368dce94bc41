"""JSON responses and the one mapping from domain errors to HTTP answers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from http import HTTPStatus
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from chalice import Response

from taskhook.model.errors import TaskhookError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


@functools.cache
def _logger() -> Logger:
    """The API's logger, built at the first error it logs: an answer that logs nothing never imports
    Powertools' logging (and what it imports) into the API function."""
    from aws_lambda_powertools import Logger

    return Logger(service="taskhook-api")


# A path no route serves: locally infra/api_server.py, on the SAM template's HTTP API functions/default_route.py,
# on the Chalice path's REST API its gateway response (infra/gateway_responses.py).
NOT_FOUND = "Not found"
# The Content-Types a JSON body comes with (API Gateway and curl send these); anything else gets
# Chalice's 415 (`{"error": "Content-Type must be application/json"}`).
BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]
_CHALICE_ERRORS = {
    "MethodNotAllowedError": "Method not allowed",
    "UnsupportedMediaType": "Content-Type must be application/json",
}


# Headers every answer of the request being handled carries (the team's RateLimit-* fields, set by
# functions/auth.py once the caller is known). Per request: `endpoint` starts each one empty, and a
# context variable is per thread in the local server's threads.
_answer_headers: ContextVar[Mapping[str, str]] = ContextVar("taskhook_answer_headers",
                                                           default=MappingProxyType({}))


def add_answer_headers(headers: Mapping[str, str]) -> None:
    """Headers the current request's answer carries, whatever it is (success or error)."""
    if headers:
        _answer_headers.set({**_answer_headers.get(), **headers})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def uniform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's HTTP middleware: the errors Chalice answers itself (405 for a method a route does
    not take, 415 for a content type it does not accept, 400, 500) come as `{"Code", "Message"}`;
    every error of this API is `{"error": …}`, so they are rewritten here, in one place."""
    try:
        response = get_response(event)
    except Exception:
        _logger().exception("unhandled error in the API")
        return error_response(500, "Internal error")
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        # Chalice's messages repeat the request's method or Content-Type: answer fixed words instead.
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return error_response(response.status_code, _CHALICE_ERRORS.get(str(body["Code"]), _phrase(response)), headers)
    return response


def _phrase(response: Response) -> str:
    if response.status_code >= 500:
        return "Internal error"
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return "Bad request"


def endpoint(view: Callable[..., Response]) -> Callable[..., Response]:
    """Every route's safety net: domain errors become their status with `{"error": …}`;
    anything else is logged (without the request body) and answered as a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = _answer_headers.set(MappingProxyType({}))
        try:
            response = _answered(view, *args, **kwargs)
            response.headers = {**_answer_headers.get(), **(response.headers or {})}
            return response
        finally:
            _answer_headers.reset(token)

    return wrapper


def _answered(view: Callable[..., Response], *args: Any, **kwargs: Any) -> Response:
    try:
        return view(*args, **kwargs)
    except TaskhookError as exc:
        return error_response(exc.status_code, exc.message, dict(exc.headers))
    except Exception:
        _logger().exception("unhandled error in %s", view.__name__)
        return error_response(500, "Internal error")
