"""Shared parsing of Lambda event records into domain values."""

from __future__ import annotations

import json
from typing import Any

from taskhook.adapters.dynamo.packing import unpack_fields
from taskhook.adapters.dynamo.tables import JSON_ATTRIBUTES
from taskhook.model.task import Task


def task_from_image(image: dict[str, Any] | None) -> Task | None:
    """A stream image (already deserialized by Powertools) as a Task; None for non-task rows.
    Attributes the table keeps as JSON strings (JSON_ATTRIBUTES: args, result, output, outputs, poll) and the
    compressed ones (bodyZ, argsZ, resultZ) are decoded here, so the Task is the same one the repository returns."""
    if not image or "teamId" not in image or "status" not in image:
        return None
    data = dict(image)
    data.setdefault("statusVersion", None)  # a row from before status versions: unknown, not 1
    for name in JSON_ATTRIBUTES:
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    unpack_fields(data)  # body, args, result stored compressed (adapters/dynamo/packing.py)
    return Task.model_validate(data)
