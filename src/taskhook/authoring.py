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

from taskhook.model.status import TaskStatus
from taskhook.run.functions.context import TaskCancelled, TaskContext, TaskFailed
from taskhook.run.functions.registry import function_task, monitored_background_task

__all__ = ["TaskCancelled", "TaskContext", "TaskFailed", "TaskStatus", "function_task", "monitored_background_task"]
