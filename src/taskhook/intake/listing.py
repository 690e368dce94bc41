"""Offset pagination as seed 002 describes it (`limit`, `offset`, `sortOrder`, `pagination`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskhook.model.errors import ValidationFailed
from taskhook.model.listing import DEFAULT_LIMIT, MAX_LIMIT, ListQuery
from taskhook.model.status import TaskStatus

STATUS_VALUES = ", ".join(s.value for s in TaskStatus)


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    message = f"{name} must be an integer between {low} and {high}" if high else f"{name} must be an integer >= {low}"
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed(message)
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValidationFailed(message)
    return value


def parse_list_query(params: Mapping[str, str] | None) -> ListQuery:
    params = params or {}
    unknown = sorted(set(params) - {"status", "limit", "offset", "sortOrder"})
    if unknown:
        raise ValidationFailed(f"Unknown query parameter: {unknown[0]}")
    status = None
    if params.get("status"):
        try:
            status = TaskStatus(params["status"])
        except ValueError:
            raise ValidationFailed(f"status must be one of: {STATUS_VALUES}") from None
    sort_order = params.get("sortOrder") or "desc"
    if sort_order not in ("asc", "desc"):
        raise ValidationFailed("sortOrder must be one of: asc, desc")
    return ListQuery(
        status=status,
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, None),
        descending=sort_order == "desc",
    )


def pagination(total: int, query: ListQuery) -> dict[str, Any]:
    return {
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "hasMore": query.offset + query.limit < total,
    }
