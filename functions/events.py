"""Shared parsing of Lambda event records into domain values."""

from __future__ import annotations

from typing import Any

from taskhook.task import Task


def task_from_image(image: dict[str, Any] | None) -> Task | None:
    """A stream image (already deserialized by Powertools) as a Task; None for non-task rows."""
    if not image or "teamId" not in image or "status" not in image:
        return None
    return Task.model_validate(image)
