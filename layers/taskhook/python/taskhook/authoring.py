"""Everything a task module imports: the decorator, the context its functions receive, and the
exceptions that steer the outcome.

    from taskhook.authoring import TaskContext, function_task

    @function_task(namespace="reports")
    async def monthly(task: TaskContext, month: str) -> str:
        await task.update(progress=50, message="querying")
        return "done"

See registry.py (registration), task_args.py (arguments), task_context.py (progress, outputs).
"""

from __future__ import annotations

from .registry import function_task, monitored_background_task
from .statuses import TaskStatus
from .task_context import TaskCancelled, TaskContext, TaskFailed

__all__ = ["TaskCancelled", "TaskContext", "TaskFailed", "TaskStatus", "function_task", "monitored_background_task"]
