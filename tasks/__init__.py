"""Your function tasks. Add a module here with decorated functions and list it in
TASKHOOK_TASK_MODULES (e.g. `builtin,tasks.reports`); both deploy paths ship this package
(SAM: the Makefile's build-%Function target; Chalice: vendor/tasks links here).

    # tasks/reports.py
    from taskhook.authoring import TaskContext, function_task

    @function_task(namespace="reports")
    async def monthly(task: TaskContext, month: str) -> str:
        await task.update(progress=50, message="crunching")
        return f"report for {month}"
"""
