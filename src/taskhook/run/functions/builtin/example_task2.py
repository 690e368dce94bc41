"""Seed 003's second example: a pydantic model as the arguments, ten progress steps.

    curl -X POST $URL/api/example_task2/task/start/task2_with_args -H "Authorization: Bearer $KEY" \
      -H "Content-Type: application/json" -d '{"name": "Matt", "age": 25}'
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from taskhook.authoring import TaskContext, TaskStatus, monitored_background_task


class InputArgs(BaseModel):
    """Input arguments for the task."""

    name: str
    age: int


DEFAULT_TASK_ARGS = InputArgs(name="Anonymous", age=0)


class ExampleTaskState2:
    """Seed 003 declares its tasks as static methods of a state class; that works as well."""

    @staticmethod
    @monitored_background_task(display_name="Example Task2")
    async def task2_with_args(task: TaskContext, task_args: InputArgs = DEFAULT_TASK_ARGS) -> str:
        """Background task that updates progress with input arguments."""
        for i in range(10):
            await task.update(
                progress=(i + 1) * 10,
                status=TaskStatus.PROCESSING,
            )
            await asyncio.sleep(0.5)
        return f"Completed task for {task_args.name}, age {task_args.age}"
