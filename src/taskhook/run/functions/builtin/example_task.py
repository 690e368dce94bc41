"""Seed 003's first example: no arguments, three progress steps, a string result.

    curl -X POST $URL/api/example_task/task/start/task1 -H "Authorization: Bearer $KEY"
"""

from __future__ import annotations

import asyncio
from typing import Any

from taskhook.authoring import TaskStatus, monitored_background_task


# The display name: seed 003's "Example Task", a valid task_name for seed 000's POST /tasks/create.
@monitored_background_task(display_name="Example Task")
async def task1(task, **kwargs: Any) -> str:  # type: ignore[no-untyped-def]  # seed 003's exact signature
    """Background task that updates progress."""
    for i in range(3):
        await task.update(
            progress=(i + 1) * 33,
            status=TaskStatus.PROCESSING,
        )
        await asyncio.sleep(0.5)
    return "<Task1 Result>"
