"""Pagination as seed 002 describes it (`limit`, `offset`, `sortOrder`, `pagination`), and the
opaque `cursor` beside it: `pagination.nextCursor` (when `hasMore`) names the last row returned,
and the next request passes it back as `?cursor=` to go on from there without reading the rows
before it (an offset reads every key before it).

A cursor is base64url (no padding) of a small JSON: the position (the row's `createdAt` and id)
and the filters and sort order it was made for. It is valid only for that same `status`, `kind`,
`namespace`, `name`, `clientId` and `sortOrder`, and not together with an `offset`; `limit` may
change from page to page. It carries no team: a position only says where to start within the
caller's own tasks.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from taskhook.model.clock import iso, parse_iso
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_OFFSET
from taskhook.model.listing import DEFAULT_LIMIT, KINDS, MAX_LIMIT, ItemFilter, ListPage, ListQuery, Position
from taskhook.model.status import TaskStatus

STATUS_VALUES = ", ".join(s.value for s in TaskStatus)
CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 512
MAX_CURSOR_ID_LENGTH = 128
INVALID_CURSOR = "cursor is not valid for this query"
CURSOR_WITH_OFFSET = "cursor and offset cannot be used together"
MAX_FILTER_LENGTH = 200
PARAMETERS = {"status", "limit", "offset", "sortOrder", "cursor", "kind", "namespace", "name", "clientId", "q"}


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    message = f"{name} must be an integer between {low} and {high}"
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed(message)
    try:
        value = int(raw)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise ValidationFailed(message) from None
    if not low <= value <= high:
        raise ValidationFailed(message)
    return value


def parse_list_query(params: Mapping[str, str] | None) -> ListQuery:
    params = params or {}
    unknown = sorted(set(params) - PARAMETERS)
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
    query = ListQuery(
        status=status,
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, MAX_OFFSET),
        descending=sort_order == "desc",
        filters=_item_filter(params),
        task_id=_text_param(params, "q"),
    )
    cursor = params.get("cursor")
    if cursor is None or cursor == "":
        return query
    if query.offset:
        raise ValidationFailed(CURSOR_WITH_OFFSET)
    return replace(query, offset=0, after=decode_cursor(cursor, query))


def _text_param(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_FILTER_LENGTH:
        raise ValidationFailed(f"{name} must be at most {MAX_FILTER_LENGTH} characters")
    return value


def _item_filter(params: Mapping[str, str]) -> ItemFilter:
    kind = _text_param(params, "kind")
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"kind must be one of: {', '.join(KINDS)}")
    return ItemFilter(kind=kind, namespace=_text_param(params, "namespace"), name=_text_param(params, "name"),
                      client_id=_text_param(params, "clientId"))


def _cursor_fields(position: Position, query: ListQuery) -> dict[str, Any]:
    fields: dict[str, Any] = {"v": CURSOR_VERSION, "at": position.created_at, "id": position.task_id,
                              "status": query.status.value if query.status else None,
                              "sort": "desc" if query.descending else "asc"}
    if query.filters.active:  # a cursor of a filtered list is valid for the same filters only
        fields["f"] = query.filters.fields()
    return fields


def encode_cursor(position: Position, query: ListQuery) -> str:
    raw = json.dumps(_cursor_fields(position, query), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, query: ListQuery) -> Position:
    """The position `cursor` names; 400 when it is malformed or was made for another query."""
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise ValidationFailed(INVALID_CURSOR)
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValidationFailed(INVALID_CURSOR) from None
    if not isinstance(fields, dict) or set(fields) - {"f"} != {"v", "at", "id", "status", "sort"}:
        raise ValidationFailed(INVALID_CURSOR)
    created_at, task_id = fields["at"], fields["id"]
    if not (isinstance(created_at, str) and isinstance(task_id, str)
            and 0 < len(task_id) <= MAX_CURSOR_ID_LENGTH and _is_timestamp(created_at)):
        raise ValidationFailed(INVALID_CURSOR)
    position = Position(created_at, task_id)
    if fields != _cursor_fields(position, query):  # the version, the filter and the sort order
        raise ValidationFailed(INVALID_CURSOR)
    return position


def _is_timestamp(value: str) -> bool:
    """A `createdAt` as Taskhook writes it (model/clock.py iso), nothing else."""
    try:
        return iso(parse_iso(value)) == value
    except (ValueError, OverflowError):
        return False


def pagination(total: int | None, query: ListQuery, page: ListPage) -> dict[str, Any]:
    """Seed 002's object; `hasMore` is the page's own (a row after it matched when it was read),
    and `nextCursor` is there exactly when `hasMore` is true. `total` is None (null) under a filter
    the counters do not count (kind, namespace, name, clientId)."""
    out: dict[str, Any] = {
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "hasMore": page.has_more,
    }
    position = page.next_position
    if position is not None:
        out["nextCursor"] = encode_cursor(position, query)
    return out
