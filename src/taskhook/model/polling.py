"""Polling a provider's job (pure): the effective poll spec of a task (its provider's template with
its own pollConfig over it), the URLs filled from the submit answer, reading a dotted path, what a
status answer means, and the interval to the next poll. The calls and the moves: run/poll.py.

Placeholders: `{{a.b.0}}` is the value at that dotted path of the submit answer's JSON (a number
indexes a list). A placeholder that is the whole template is inserted as is (it is a URL, such as
Replicate's `{{urls.get}}`); inside a longer template the value is percent-encoded (an id in a path).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from taskhook.model.limits import (
    MAX_ERROR_LENGTH,
    POLL_GROWTH_DEFAULT,
    POLL_INTERVAL_DEFAULT,
    POLL_MAX_INTERVAL_DEFAULT,
    SQS_MAX_DELAY,
)
from taskhook.model.providers import TEMPLATES
from taskhook.model.task import Task
from taskhook.model.urls import InvalidUrl, parse_http_url

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
CANCEL_METHODS = ("POST", "PUT", "DELETE")
REQUIRED_FIELDS = ("urlTemplate", "statusPath", "doneValues", "failValues")
_MISSING: Any = object()
MESSAGE_START = 300  # characters of a non-JSON error body quoted in a task's error


class PollFailure(Exception):
    """The job cannot be polled (a placeholder the submit answer does not fill, a URL that is not
    http(s)): the task fails with this message."""


@dataclass(frozen=True)
class PollSpec:
    urlTemplate: str
    statusPath: str
    doneValues: tuple[str, ...]
    failValues: tuple[str, ...]
    intervalSeconds: float = POLL_INTERVAL_DEFAULT
    intervalGrowth: float = POLL_GROWTH_DEFAULT
    maxIntervalSeconds: float = POLL_MAX_INTERVAL_DEFAULT
    resultUrlTemplate: str | None = None
    errorPath: str | None = None
    outputPath: str | None = None
    cancelUrlTemplate: str | None = None
    cancelMethod: str = "POST"
    provider: str | None = None

    @staticmethod
    def of(task: Task) -> PollSpec | None:
        """The task's effective spec; None for a task that does not poll."""
        return PollSpec.from_config(task.provider, task.pollConfig)

    @staticmethod
    def from_config(provider: str | None, config: dict[str, Any] | None) -> PollSpec | None:
        if provider is None and config is None:
            return None
        merged: dict[str, Any] = {**TEMPLATES.get(provider or "", {}),
                                  **{k: v for k, v in (config or {}).items() if v is not None}}
        missing = [name for name in REQUIRED_FIELDS if name not in merged]
        if missing:  # validation refuses such a request; a row written otherwise cannot poll
            raise PollFailure(f"pollConfig.{missing[0]} is required")
        merged["doneValues"] = tuple(merged["doneValues"])
        merged["failValues"] = tuple(merged["failValues"])
        fields = set(PollSpec.__dataclass_fields__)
        return PollSpec(provider=provider, **{k: v for k, v in merged.items() if k in fields and k != "provider"})


# ---- reading the provider's JSON --------------------------------------------------------------

def read_path(document: Any, path: str) -> Any:
    """The value at dotted `path` (numbers index lists), or _MISSING."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def has_path(document: Any, path: str) -> bool:
    return read_path(document, path) is not _MISSING


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def fill(template: str, document: Any, field: str) -> str:
    """The template with its placeholders filled from `document`; PollFailure naming the field and
    the path when the document has no value there."""
    whole = PLACEHOLDER.fullmatch(template.strip())

    def value_at(path: str) -> str:
        value = read_path(document, path)
        if value is _MISSING or value is None or value == "":
            raise PollFailure(f"pollConfig.{field}: submit answer has no {path}")
        if isinstance(value, (dict, list)):
            raise PollFailure(f"pollConfig.{field}: submit answer's {path} is not a string or a number")
        return _text(value)

    if whole:
        return value_at(whole.group(1))
    return PLACEHOLDER.sub(lambda m: quote(value_at(m.group(1)), safe=""), template)


def _url(template: str, document: Any, field: str) -> str:
    url = fill(template, document, field)
    try:
        return parse_http_url(url).url
    except InvalidUrl:
        raise PollFailure(f"pollConfig.{field}: the filled URL is not a valid HTTP/HTTPS URL") from None


def start_state(spec: PollSpec, submit_answer: Any) -> dict[str, Any]:
    """Task.poll for a job the submit answer describes: its URLs, filled once, and the counters.
    PollFailure when the status or result URL cannot be filled; a cancel URL that cannot be is
    left out (there is nothing to cancel with)."""
    state: dict[str, Any] = {"statusUrl": _url(spec.urlTemplate, submit_answer, "urlTemplate")}
    if spec.resultUrlTemplate:
        state["resultUrl"] = _url(spec.resultUrlTemplate, submit_answer, "resultUrlTemplate")
    if spec.cancelUrlTemplate:
        try:
            state["cancelUrl"] = _url(spec.cancelUrlTemplate, submit_answer, "cancelUrlTemplate")
            state["cancelMethod"] = spec.cancelMethod
        except PollFailure:
            pass
    state.update(polls=0, errors=0, interval=spec.intervalSeconds)
    return state


# ---- what a status answer means ---------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    kind: Literal["done", "failed", "pending", "unreadable"]
    status: str | None = None
    error: str | None = None


def truncated(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def classify(spec: PollSpec, document: Any) -> Verdict:
    """done, failed (with the provider's error), pending, or unreadable (no status at statusPath:
    counted as a poll error)."""
    value = read_path(document, spec.statusPath)
    if value is _MISSING or value is None or isinstance(value, (dict, list)):
        return Verdict("unreadable", error=f"status poll answer has no {spec.statusPath}")
    status = _text(value)
    if status in spec.doneValues:
        return Verdict("done", status)
    if status in spec.failValues:
        error = read_path(document, spec.errorPath) if spec.errorPath else _MISSING
        if error is _MISSING or error is None or error == "":
            return Verdict("failed", status, f"provider reported {status}")
        return Verdict("failed", status, truncated(_text(error)))
    return Verdict("pending", status)


def provider_message(body: bytes) -> str:
    """The provider's own words in an error answer: the `detail` / `error` / `message` text of a
    JSON body (FastAPI's list of `{msg}` joined), else the body's start."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
        document = None
    if isinstance(document, dict):
        for name in ("detail", "error", "message"):
            value = document.get(name)
            if value in (None, "", [], {}):
                continue
            if isinstance(value, list) and all(isinstance(v, dict) and "msg" in v for v in value):
                return truncated("; ".join(_text(v["msg"]) for v in value))
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return truncated(value["message"])
            return truncated(_text(value))
    start = " ".join(text.split())[:MESSAGE_START]
    return truncated(start) if start else "(empty answer)"


# ---- timing and origins -------------------------------------------------------------------------

def next_interval(spec: PollSpec, current: float, retry_after: float | None = None) -> float:
    """The delay before the poll after one waited `current`: grown, at most maxIntervalSeconds; a
    Retry-After is honoured (up to SQS's longest delay)."""
    grown = min(max(current, spec.intervalSeconds) * spec.intervalGrowth, spec.maxIntervalSeconds)
    if retry_after is not None and retry_after > grown:
        grown = min(retry_after, SQS_MAX_DELAY)
    return max(1.0, grown)


def delay_seconds(interval: float) -> int:
    """An interval as an SQS delay (whole seconds)."""
    return int(min(SQS_MAX_DELAY, max(1, math.ceil(interval))))


def origin(url: str) -> tuple[str, str, int] | None:
    try:
        parsed = parse_http_url(url)
    except InvalidUrl:
        return None
    return parsed.scheme, parsed.host, parsed.port


def same_origin(url: str, other: str) -> bool:
    """Whether the task's headers may go to `url`: the scheme, host and port of its submit URL."""
    mine = origin(url)
    return mine is not None and mine == origin(other)
