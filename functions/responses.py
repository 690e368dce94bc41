"""JSON responses and the one mapping from domain errors to HTTP answers."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from chalice import Response

from taskhook.model.errors import TaskhookError

logger = Logger(service="taskhook-api")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def endpoint(view: Callable[..., Response]) -> Callable[..., Response]:
    """Every route's safety net: domain errors become their status with `{"error": …}`;
    anything else is logged (without the request body) and answered as a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except TaskhookError as exc:
            return error_response(exc.status_code, exc.message)
        except Exception:
            logger.exception("unhandled error in %s", view.__name__)
            return error_response(500, "Internal error")

    return wrapper
