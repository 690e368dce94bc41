"""Validation of `POST /v1/tasks` bodies (seed 002), with the seed's exact error messages.

The pydantic model is the single description of the request: the OpenAPI schema is generated
from it, and every rule maps to one readable message in FIELD_MESSAGES.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from taskhook.model.clock import utcnow
from taskhook.model.errors import PayloadTooLarge, ValidationFailed
from taskhook.model.headers import framing_error, is_framing_header, is_header_name, is_header_value
from taskhook.model.limits import (
    MAX_BODY_BYTES,
    MAX_DELAY_DAYS,
    MAX_DELAY_SECONDS,
    MAX_RETRIES_LIMIT,
    MAX_WAIT_TIME_LIMIT,
    POLL_GROWTH_MAX,
    POLL_GROWTH_MIN,
    POLL_INTERVAL_MAX,
    POLL_INTERVAL_MIN,
    POLL_MAX_INTERVAL_MAX,
    POLL_MAX_INTERVAL_MIN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    PROVIDER_MAX_WAIT_TIME,
    TIMEOUT_LIMIT,
)
from taskhook.model.polling import CANCEL_METHODS, PLACEHOLDER, REQUIRED_FIELDS
from taskhook.model.retry import BACKOFFS
from taskhook.model.urls import is_http_url

METHODS = ("GET", "POST", "PUT", "DELETE")
PROVIDERS = ("fal", "replicate")

FIELD_MESSAGES: dict[str, str] = {
    "targetUrl": "targetUrl must be a valid HTTP/HTTPS URL",
    "method": "method must be one of: GET, POST, PUT, DELETE",
    "headers": "headers must be an object of header names to string values",
    "body": "body must be a string",
    "maxWaitTime": f"maxWaitTime must be a number between 1 and {MAX_WAIT_TIME_LIMIT}",
    "timeout": f"timeout must be a number between 1 and {TIMEOUT_LIMIT}",
    "delayUntil": "delayUntil must be a valid ISO 8601 date",
    "maxRetries": f"maxRetries must be a number between 0 and {MAX_RETRIES_LIMIT}",
    "retryBackoff": "retryBackoff must be one of: linear, exponential",
    "priority": f"priority must be an integer between {PRIORITY_MIN} and {PRIORITY_MAX}",
    "onCompleteUrl": "onCompleteUrl must be a valid HTTP/HTTPS URL",
    "provider": "provider must be one of: " + ", ".join(PROVIDERS),
    "waitForCallback": "waitForCallback must be a boolean",
    "pollConfig": (
        "pollConfig must be an object with urlTemplate (string), statusPath (string), "
        "doneValues (array of strings) and failValues (array of strings)"
    ),
}


WAIT_WITH_POLLING = "waitForCallback cannot be combined with provider or pollConfig"
DELAY_TOO_FAR = f"delayUntil must be at most {MAX_DELAY_DAYS} days in the future"


def _number(value: Any, low: float, high: float, integer: bool) -> float | int:
    # JSON numbers only: strings and booleans are type errors, not values to coerce.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("not a number")
    if integer and isinstance(value, float) and not value.is_integer():
        raise ValueError("not an integer")
    if not low <= value <= high:
        raise ValueError("out of range")
    return int(value) if integer else value


def _url(value: Any) -> str:
    if not isinstance(value, str) or not is_http_url(value):
        raise ValueError("not an http(s) url")
    return value


def parse_instant(value: str) -> datetime:
    """An ISO 8601 timestamp; one without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _poll_error(field: str, rule: str) -> PydanticCustomError:
    return PydanticCustomError("poll_field", "pollConfig.{field} must {verb}{rule}",
                               {"field": field, "rule": rule, "verb": "" if rule.startswith("not ") else "be "})


_TEMPLATE_RULE = "an HTTP/HTTPS URL, or one {{placeholder}} standing for one"
_RANGES = {
    "intervalSeconds": (POLL_INTERVAL_MIN, POLL_INTERVAL_MAX),
    "intervalGrowth": (POLL_GROWTH_MIN, POLL_GROWTH_MAX),
    "maxIntervalSeconds": (POLL_MAX_INTERVAL_MIN, POLL_MAX_INTERVAL_MAX),
}


class PollConfig(BaseModel):
    """How Taskhook polls the job the target's first (2xx) answer started. Without `provider`,
    urlTemplate, statusPath, doneValues and failValues are required; with one, every field is
    optional and overrides the provider's template. `{{a.b}}` placeholders are filled from the
    first answer's JSON (a dotted path; numbers index lists)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    urlTemplate: str | None = None
    statusPath: str | None = None
    doneValues: list[str] | None = None
    failValues: list[str] | None = None
    intervalSeconds: float | None = None
    intervalGrowth: float | None = None
    maxIntervalSeconds: float | None = None
    resultUrlTemplate: str | None = None
    errorPath: str | None = None
    outputPath: str | None = None
    cancelUrlTemplate: str | None = None
    cancelMethod: Literal["POST", "PUT", "DELETE"] | None = None

    @field_validator("urlTemplate", "resultUrlTemplate", "cancelUrlTemplate", mode="before")
    @classmethod
    def _check_template(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _poll_error(str(info.field_name), "a non-empty string")
        if PLACEHOLDER.fullmatch(value.strip()):
            return value
        if not is_http_url(PLACEHOLDER.sub("x", value)):
            raise _poll_error(str(info.field_name), _TEMPLATE_RULE)
        return value

    @field_validator("statusPath", "errorPath", "outputPath", mode="before")
    @classmethod
    def _check_path(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and (not isinstance(value, str) or not all(part.strip() for part in value.split("."))):
            raise _poll_error(str(info.field_name), "a non-empty string (a dotted path)")
        return value

    @model_validator(mode="after")
    def _check_values_apart(self) -> PollConfig:
        """A status both done and failed would be read as done: refused rather than guessed."""
        if self.doneValues and self.failValues and set(self.doneValues) & set(self.failValues):
            raise _poll_error("failValues", "not repeat a value of doneValues")
        return self

    @field_validator("doneValues", "failValues", mode="before")
    @classmethod
    def _check_values(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (
                info.field_name == "doneValues" and not value):
            kind = "a non-empty array of strings" if info.field_name == "doneValues" else "an array of strings"
            raise _poll_error(str(info.field_name), kind)
        return value

    @field_validator("intervalSeconds", "intervalGrowth", "maxIntervalSeconds", mode="before")
    @classmethod
    def _check_number(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        low, high = _RANGES[str(info.field_name)]
        try:
            return float(_number(value, low, high, integer=False))
        except ValueError:
            raise _poll_error(str(info.field_name), f"a number between {low:g} and {high:g}") from None

    @field_validator("cancelMethod", mode="before")
    @classmethod
    def _check_cancel_method(cls, value: Any) -> Any:
        if value is not None and value not in CANCEL_METHODS:
            raise _poll_error("cancelMethod", "one of: " + ", ".join(CANCEL_METHODS))
        return value


class CreateTaskRequest(BaseModel):
    """The body of `POST /v1/tasks`. Field names are the seed's, camelCase on the wire."""

    model_config = ConfigDict(extra="forbid")

    targetUrl: str
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    maxWaitTime: float = 30
    timeout: float = 30
    delayUntil: str | None = None
    maxRetries: int = 3
    retryBackoff: Literal["linear", "exponential"] = "exponential"
    priority: int = 5
    onCompleteUrl: str | None = None
    provider: Literal["fal", "replicate"] | None = None
    pollConfig: PollConfig | None = None
    # True: a 2xx answer makes the task `waiting` for its callback (docs/waiting.md).
    waitForCallback: bool | None = Field(default=None, description=(
        "true: the call carries a one-time URL (header Taskhook-Callback-Url); a 2xx answer makes the task "
        "`waiting` until that URL, or POST /v1/tasks/{id}/complete, finishes it (docs/waiting.md). Not with "
        "provider or pollConfig."))

    @field_validator("waitForCallback", mode="before")
    @classmethod
    def _check_wait_for_callback(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value

    @model_validator(mode="after")
    def _check_waiting_alone(self) -> CreateTaskRequest:
        if self.waitForCallback and (self.provider is not None or self.pollConfig is not None):
            raise PydanticCustomError("conflicting_fields", WAIT_WITH_POLLING)
        return self

    @model_validator(mode="after")
    def _check_polling(self) -> CreateTaskRequest:
        """Without a provider, the seed's four pollConfig fields are required. A polling task whose
        client gave no maxWaitTime gets PROVIDER_MAX_WAIT_TIME (30 s is too short for a real job)."""
        if self.pollConfig is not None and self.provider is None:
            for name in REQUIRED_FIELDS:
                if getattr(self.pollConfig, name) is None:
                    raise PydanticCustomError("poll_required", "pollConfig.{field} is required", {"field": name})
        if (self.provider is not None or self.pollConfig is not None) and "maxWaitTime" not in self.model_fields_set:
            self.maxWaitTime = PROVIDER_MAX_WAIT_TIME
        return self

    @field_validator("targetUrl", "onCompleteUrl", mode="before")
    @classmethod
    def _check_url(cls, value: Any) -> Any:
        return None if value is None else _url(value)

    @field_validator("method", mode="before")
    @classmethod
    def _check_method(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.upper() not in METHODS:
            raise ValueError("bad method")
        return value.upper()

    @field_validator("headers", mode="before")
    @classmethod
    def _check_headers(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("not an object")
        for name, val in value.items():
            if not is_header_name(name):
                raise ValueError("bad header name")
            if not is_header_value(val):  # no NUL, CR, LF or other control character
                raise ValueError("bad header value")
            if is_framing_header(name):  # model/headers.py: the client frames the request
                raise PydanticCustomError("framing_header", framing_error(name))
        return value

    @field_validator("body", mode="before")
    @classmethod
    def _check_body(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("not a string")
        return value

    @field_validator("maxWaitTime", mode="before")
    @classmethod
    def _check_max_wait(cls, value: Any) -> Any:
        return _number(value, 1, MAX_WAIT_TIME_LIMIT, integer=False)

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> Any:
        return _number(value, 1, TIMEOUT_LIMIT, integer=False)

    @field_validator("maxRetries", mode="before")
    @classmethod
    def _check_max_retries(cls, value: Any) -> Any:
        return _number(value, 0, MAX_RETRIES_LIMIT, integer=True)

    @field_validator("priority", mode="before")
    @classmethod
    def _check_priority(cls, value: Any) -> Any:
        return _number(value, PRIORITY_MIN, PRIORITY_MAX, integer=True)

    @field_validator("delayUntil", mode="before")
    @classmethod
    def _check_delay_until(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("not a string")
        try:
            moment = parse_instant(value)
        except (ValueError, OverflowError) as exc:
            raise ValueError("not an ISO 8601 date") from exc
        if moment > utcnow() + timedelta(seconds=MAX_DELAY_SECONDS):
            raise PydanticCustomError("delay_too_far", DELAY_TOO_FAR)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @field_validator("retryBackoff", mode="before")
    @classmethod
    def _check_backoff(cls, value: Any) -> Any:
        if value not in BACKOFFS:
            raise ValueError("bad backoff")
        return value

    @field_validator("provider", mode="before")
    @classmethod
    def _check_provider(cls, value: Any) -> Any:
        if value is not None and value not in PROVIDERS:
            raise ValueError("bad provider")
        return value


def _message_for(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    field = loc[0] if loc else ""
    if error.get("type") == "extra_forbidden":
        return f"Unknown field: {'.'.join(loc)}"
    if error.get("type") == "delay_too_far":
        return DELAY_TOO_FAR
    if error.get("type") in ("conflicting_fields", "poll_field", "poll_required", "framing_header"):
        return str(error["msg"])
    if error.get("type") == "missing" and len(loc) == 1:
        return f"{field} is required"
    if field == "pollConfig" and len(loc) > 1:
        if error.get("type") == "missing":
            return f"pollConfig.{loc[1]} is required"
        return FIELD_MESSAGES["pollConfig"]
    return FIELD_MESSAGES.get(field, f"{field} is invalid")


class _NonFiniteNumber(Exception):
    pass


def _not_json(constant: str) -> Any:
    """Python's json module reads NaN, Infinity and -Infinity; JSON has no such numbers, and they
    would be stored as null."""
    raise _NonFiniteNumber(constant)


class _TooLargeNumber(Exception):
    pass


def _finite(text: str) -> float:
    """A JSON number no float holds (1e999) reads as infinity: stored, it would become null."""
    value = float(text)
    if not math.isfinite(value):
        raise _TooLargeNumber(text)
    return value


def decode_json_object(raw: bytes | str | None) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 that says what is wrong with it."""
    if raw is None or raw in (b"", ""):
        raise ValidationFailed("Request body is required")
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES // 1024} KB")
    try:
        data = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        raise ValidationFailed("Request body must be valid JSON") from None
    except _NonFiniteNumber:
        raise ValidationFailed("Request body must be valid JSON: NaN and Infinity are not JSON numbers") from None
    except _TooLargeNumber:
        raise ValidationFailed("Request body must be valid JSON: a number is too large for a 64-bit float") from None
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    try:  # a lone surrogate escape ("\ud800") decodes, but can be neither stored nor sent
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed("Request body must be valid JSON") from None
    return data


def parse_create_request(data: dict[str, Any]) -> CreateTaskRequest:
    """Validate a decoded body; the first problem becomes the 400 message."""
    try:
        return CreateTaskRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # Unknown fields first: a typo explains the other errors it causes.
        errors.sort(key=lambda e: e.get("type") != "extra_forbidden")
        raise ValidationFailed(_message_for(dict(errors[0]))) from None
