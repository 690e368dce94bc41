"""The function task registry: Python functions that clients start by namespace and name.

    from taskhook.authoring import TaskContext, function_task

    @function_task(namespace="reports", max_retries=2)
    async def monthly(task: TaskContext, month: str, team: str = "all") -> dict: ...

`@function_task` (alias `@monitored_background_task`, seed 003's name) registers the function
when its module is imported; bare, the namespace is the module's last dotted component. Which
modules are imported is configuration (TASKHOOK_TASK_MODULES, see `load_task_modules`).
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from taskhook.config import BUILTIN_TASK_MODULES
from taskhook.model.errors import NotFound
from taskhook.model.limits import (
    LAMBDA_MAX_TIMEOUT,
    MAX_RETRIES_LIMIT,
    MAX_WAIT_TIME_LIMIT,
    PRIORITY_MAX,
    PRIORITY_MIN,
)
from taskhook.model.retry import BACKOFFS, Backoff
from taskhook.run.functions.arguments import ArgsBinding, bind_arguments
from taskhook.run.functions.context import TaskContext

F = TypeVar("F", bound=Callable[..., Any])
BUILTIN_MODULES = (
    "taskhook.run.functions.builtin.example_task",
    "taskhook.run.functions.builtin.example_task2",
    "taskhook.run.functions.builtin.fetch_url",
)
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a URL path segment, no dots (they join namespace.name)
MAX_FUNCTION_TIMEOUT = LAMBDA_MAX_TIMEOUT


MAX_DISPLAY_NAME = 100


class UnknownTask(NotFound):
    """404 whose message lists what is registered, so a typo explains itself."""


@dataclass(frozen=True)
class TaskDefinition:
    namespace: str
    name: str
    function: Callable[..., Any]
    binding: ArgsBinding
    description: str = ""
    # What people call it (seed 003's "Example Task"): shown by GET /v1/functions, and a valid
    # task_name for seed 000's POST /tasks/create. None: its qualified name.
    display: str | None = None
    # Defaults of the task record (the same fields, and meanings, as an HTTP task's).
    timeout: float = 300
    max_retries: int = 0
    retry_backoff: Backoff = Backoff.EXPONENTIAL
    max_wait_time: float = 3600
    priority: int = 5

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def display_name(self) -> str:
        return self.display or self.qualified_name

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def stored_args(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate a client's arguments (ArgumentsInvalid: 400) into their stored JSON form."""
        return self.binding.stored_form(data, self.qualified_name)

    def prepare_call(self, context: TaskContext, stored: dict[str, Any]) -> Callable[[], Any]:
        """A no-argument callable that runs the function (a coroutine, for async ones)."""
        kwargs = self.binding.parse(stored, self.qualified_name)
        if self.binding.context_param is not None:
            kwargs[self.binding.context_param] = context
        return lambda: self.function(**kwargs)


def _check_options(qualified: str, timeout: float, max_retries: int, retry_backoff: str,
                   max_wait_time: float, priority: int) -> None:
    problems = []
    if not 1 <= timeout <= MAX_FUNCTION_TIMEOUT:
        problems.append(f"timeout must be between 1 and {MAX_FUNCTION_TIMEOUT}")
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        problems.append(f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}")
    if retry_backoff not in BACKOFFS:
        problems.append("retry_backoff must be linear or exponential")
    if not 1 <= max_wait_time <= MAX_WAIT_TIME_LIMIT:
        problems.append(f"max_wait_time must be between 1 and {MAX_WAIT_TIME_LIMIT}")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        problems.append(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}")
    if problems:
        raise ValueError(f"{qualified}: " + "; ".join(problems))


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[tuple[str, str], TaskDefinition] = {}
        self._lock = threading.Lock()

    def add(self, definition: TaskDefinition) -> None:
        key = (definition.namespace, definition.name)
        with self._lock:
            known = self._tasks.get(key)
            if known is not None and not _same_function(known.function, definition.function):
                raise ValueError(f"{definition.qualified_name} is already registered by "
                                 f"{known.function.__module__}.{known.function.__qualname__}")
            for other_key, other in self._tasks.items():
                if other_key != key and other.display_name.casefold() == definition.display_name.casefold():
                    raise ValueError(f"display name {definition.display_name!r} of {definition.qualified_name} "
                                     f"is already {other.qualified_name}'s")
            self._tasks[key] = definition  # the same function again: a module reload

    @overload
    def task(self, function: F) -> F: ...

    @overload
    def task(self, function: None = None, *, namespace: str | None = None, name: str | None = None,
             timeout: float = 300, max_retries: int = 0, retry_backoff: str = "exponential",
             max_wait_time: float = 3600, priority: int = 5, description: str | None = None,
             display_name: str | None = None) -> Callable[[F], F]: ...

    def task(self, function: Any = None, *, namespace: str | None = None, name: str | None = None,
             timeout: float = 300, max_retries: int = 0, retry_backoff: str = "exponential",
             max_wait_time: float = 3600, priority: int = 5, description: str | None = None,
             display_name: str | None = None) -> Any:
        """Register a function; usable bare (`@function_task`) or with options. The function is
        returned unchanged (it can still be called directly, in tests for instance). `display_name`:
        what the task catalogue shows and seed 000's task_name may say (1-100 characters, unique)."""

        def register(target: Any) -> Any:
            wrapped = target.__func__ if isinstance(target, staticmethod) else target
            task_namespace = namespace or wrapped.__module__.rsplit(".", 1)[-1]
            task_name = name or wrapped.__name__
            for label, value in (("namespace", task_namespace), ("name", task_name)):
                if not _SEGMENT.fullmatch(value):
                    raise ValueError(f"task {label} {value!r} must be 1-64 letters, digits, '_' or '-'")
            qualified = f"{task_namespace}.{task_name}"
            if display_name is not None and not 0 < len(display_name.strip()) <= MAX_DISPLAY_NAME:
                raise ValueError(f"{qualified}: display_name must be 1-{MAX_DISPLAY_NAME} characters")
            _check_options(qualified, timeout, max_retries, retry_backoff, max_wait_time, priority)
            self.add(TaskDefinition(
                namespace=task_namespace, name=task_name, function=wrapped,
                binding=bind_arguments(wrapped, task_namespace, task_name, TaskContext),
                description=description if description is not None else inspect.getdoc(wrapped) or "",
                timeout=timeout, max_retries=max_retries, retry_backoff=Backoff(retry_backoff),
                max_wait_time=max_wait_time, priority=priority,
                display=display_name.strip() if display_name is not None else None,
            ))
            return target

        return register(function) if function is not None else register

    def names(self) -> list[str]:
        with self._lock:
            return sorted(d.qualified_name for d in self._tasks.values())

    def definitions(self) -> list[TaskDefinition]:
        with self._lock:
            return sorted(self._tasks.values(), key=lambda d: d.qualified_name)

    def _unknown(self, label: str) -> UnknownTask:
        names = self.names()
        return UnknownTask(f"Unknown task {label}. Registered tasks: {', '.join(names) if names else 'none'}")

    def get(self, namespace: str, name: str) -> TaskDefinition:
        with self._lock:
            found = self._tasks.get((namespace, name))
        if found is None:
            raise self._unknown(f"{namespace}.{name}")
        return found

    def find(self, task_name: str) -> TaskDefinition:
        """By display name (seed 003's "Example Task", case-insensitive), `namespace.name`, or a bare
        name that only one namespace uses (seed 000's task_name)."""
        wanted = task_name.strip().casefold()
        with self._lock:
            shown = [d for d in self._tasks.values() if d.display is not None and d.display.casefold() == wanted]
        if shown:
            return shown[0]
        namespace, dot, name = task_name.strip().rpartition(".")
        if dot:
            return self.get(namespace, name)
        with self._lock:
            matches = [d for (_, n), d in self._tasks.items() if n == name]
        if len(matches) == 1:
            return matches[0]
        raise self._unknown(task_name if not matches else f"{task_name} (ambiguous: use namespace.name)")


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


REGISTRY = Registry()
function_task = REGISTRY.task
monitored_background_task = function_task  # seed 003's name for the same decorator


def load_task_modules(modules: Iterable[str], registry: Registry = REGISTRY) -> Registry:
    """Import the configured task modules (`builtin` = the shipped ones) so their decorators run.
    An import error propagates: a task module that is configured but broken is an outage to see."""
    for module in modules:
        for dotted in BUILTIN_MODULES if module == BUILTIN_TASK_MODULES else (module,):
            importlib.import_module(dotted)
    return registry
