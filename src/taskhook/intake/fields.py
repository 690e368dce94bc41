"""A JSON body's fields against those a route takes: the first unknown one, in name order, is the 400."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from taskhook.model.errors import ValidationFailed


def only_fields(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationFailed(f"Unknown field: {unknown[0]}")
