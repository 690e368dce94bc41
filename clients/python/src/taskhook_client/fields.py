"""`POST /v1/tasks`'s body from Python keyword arguments: each seed-002 field under its snake_case
name (`target_url` → `targetUrl`), plus `delay` (seconds, a timedelta or "90s" / "5m" / "2h" / "1d"),
which becomes `delayUntil` from now."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

# Python name → the API's field (seed 002's names, and waitForCallback: docs/waiting.md).
CREATE_FIELDS: dict[str, str] = {
    "target_url": "targetUrl",
    "method": "method",
    "headers": "headers",
    "body": "body",
    "max_wait_time": "maxWaitTime",
    "timeout": "timeout",
    "delay_until": "delayUntil",
    "max_retries": "maxRetries",
    "retry_backoff": "retryBackoff",
    "priority": "priority",
    "on_complete_url": "onCompleteUrl",
    "provider": "provider",
    "poll_config": "pollConfig",
    "wait_for_callback": "waitForCallback",
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: str | float | timedelta) -> timedelta:
    """90, "90", "90s", "5m", "2h", "1d" or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (e.g. 90s, 5m, 2h, 1d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with Z, milliseconds: what the API shows."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def create_body(fields: Mapping[str, Any], delay: str | float | timedelta | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """The JSON body: the fields given (None means "not sent": the API's default applies).
    `body` that is not a string is sent JSON-encoded (the API takes the body as a string);
    `delay_until` may be a datetime."""
    unknown = sorted(set(fields) - set(CREATE_FIELDS))
    if unknown:
        raise TypeError(f"unknown task field: {unknown[0]}")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "body" and not isinstance(value, str):
            value = value.decode("utf-8") if isinstance(value, bytes) else json.dumps(value)
        if name == "delay_until" and isinstance(value, datetime):
            value = iso_utc(value)
        out[CREATE_FIELDS[name]] = value
    if delay is not None:
        if "delayUntil" in out:
            raise ValueError("give delay or delay_until, not both")
        out["delayUntil"] = iso_utc((now or datetime.now(UTC)) + parse_duration(delay))
    return out
