"""How deep a decoded JSON value nests, checked without recursion. A task holding a value nested
deeper than MAX_JSON_DEPTH is refused before it is stored (a callback's result, a provider's
answer): pydantic cannot serialize one that deep, so every read of the task, and the team's list,
would fail."""

from __future__ import annotations

from typing import Any

from taskhook.model.limits import MAX_JSON_DEPTH


def nested_deeper_than(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` has lists or objects nested more than `limit` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
