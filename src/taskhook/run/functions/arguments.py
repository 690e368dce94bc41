"""A function task's arguments: a pydantic model read from the function's signature.

    async def resize(task: TaskContext, url: str, width: int = 800): ...
        -> the body {"url": "…", "width": 640} (width optional; anything else is refused)
    async def task2_with_args(task: TaskContext, task_args: InputArgs = DEFAULT_TASK_ARGS): ...
        -> the body IS an InputArgs (seed 003); an empty body means the default
    async def task1(task, **kwargs): ...
        -> any object; its fields arrive as keyword arguments

The context parameter (annotated TaskContext, or an unannotated first parameter called task, ctx
or context) is Taskhook's, never the client's. Arguments are validated when the task is created
(a 400 that names each bad field) and stored in their JSON form; the executor validates that form
again to call the function with typed values.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from taskhook.model.errors import ValidationFailed
from taskhook.model.json_depth import nested_deeper_than
from taskhook.model.limits import MAX_JSON_DEPTH

CONTEXT_NAMES = ("task", "ctx", "context")
MAX_REPORTED_ERRORS = 10
_EMPTY = inspect.Parameter.empty


class ArgumentsInvalid(ValidationFailed):
    """400: the body does not fit the function's arguments; the message lists every bad field."""


def readable_errors(exc: ValidationError) -> str:
    """pydantic's errors as `field: problem; other.field: problem` (at most ten)."""
    parts = []
    for error in exc.errors()[:MAX_REPORTED_ERRORS]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        problem = "unknown field" if error.get("type") == "extra_forbidden" else str(error.get("msg", "invalid"))
        parts.append(f"{where}: {problem}")
    more = exc.error_count() - MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def model_name(namespace: str, name: str) -> str:
    """`example_task2`, `task2_with_args` -> `ExampleTask2Task2WithArgsArgs` (for OpenAPI)."""
    words = re.split(r"[^0-9A-Za-z]+", f"{namespace}_{name}")
    return "".join(w[:1].upper() + w[1:] for w in words if w) + "Args"


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


@dataclass(frozen=True)
class ArgsBinding:
    """How a JSON body becomes the function's keyword arguments."""

    model: type[BaseModel]
    context_param: str | None = None
    model_param: str | None = None  # the one parameter that receives the whole body as a model
    model_default: Any = _EMPTY  # its default: what an empty body means
    accepts_extra: bool = False  # the function takes **kwargs

    def _validated(self, data: dict[str, Any], label: str) -> Any:
        """The body as an instance of the model (or the model parameter's default, for an empty body)."""
        if self.model_param is not None and not data and self.model_default is not _EMPTY:
            return self.model_default
        if nested_deeper_than(data):  # pydantic could not serialise it to store (near 255 levels)
            raise ArgumentsInvalid(f"Invalid arguments for {label}: nested deeper than {MAX_JSON_DEPTH} levels")
        try:  # Python reads and writes NaN and Infinity; JSON has neither, and they would be stored as null
            json.dumps(data, allow_nan=False)
        except ValueError:
            raise ArgumentsInvalid(f"Invalid arguments for {label}: NaN and Infinity are not JSON numbers") from None
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise ArgumentsInvalid(f"Invalid arguments for {label}: {readable_errors(exc)}") from None

    def parse(self, data: dict[str, Any], label: str) -> dict[str, Any]:
        """The keyword arguments (without the context) for `data`; ArgumentsInvalid if they do not fit."""
        value = self._validated(data, label)
        if self.model_param is not None:
            return {self.model_param: value}
        kwargs = {name: getattr(value, name) for name in type(value).model_fields}
        if self.accepts_extra:
            kwargs.update(value.model_extra or {})
        return kwargs

    def stored_form(self, data: dict[str, Any], label: str) -> dict[str, Any]:
        """Validate `data`; the arguments as they are stored on the task (JSON, defaults filled in)."""
        value = self._validated(data, label)
        return value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else {}

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def public_schema(self) -> dict[str, Any] | None:
        """The arguments' JSON Schema for a form (GET /v1/functions), or None when it takes none."""
        if not self.model.model_fields and not self.accepts_extra:
            return None
        return self.json_schema()


def bind_arguments(function: Callable[..., Any], namespace: str, name: str, context_type: type) -> ArgsBinding:
    """Read `function`'s signature. Raises TypeError for signatures a JSON body cannot fill."""
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - any failure to resolve annotations is the author's to fix
        raise TypeError(f"cannot read the annotations of {function.__qualname__}: {exc}") from exc
    params = list(inspect.signature(function).parameters.values())
    context_param = None
    fields: dict[str, Any] = {}
    accepts_extra = False
    for position, param in enumerate(params):
        annotation = hints.get(param.name, Any)
        if param.kind is param.VAR_KEYWORD:
            accepts_extra = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise TypeError(f"{function.__qualname__}: parameter {param.name} must be passable by keyword")
        is_context = (inspect.isclass(annotation) and issubclass(annotation, context_type)) or (
            position == 0 and param.name in CONTEXT_NAMES and annotation is Any
        )
        if is_context:
            if context_param is not None:
                raise TypeError(f"{function.__qualname__}: only one task context parameter")
            context_param = param.name
            continue
        fields[param.name] = (annotation, ... if param.default is _EMPTY else param.default)

    if len(fields) == 1 and not accepts_extra:
        (only, (annotation, default)), = fields.items()
        if _is_model(annotation):
            return ArgsBinding(model=annotation, context_param=context_param, model_param=only,
                               model_default=_EMPTY if default is ... else default)
    model = create_model(  # type: ignore[call-overload]
        model_name(namespace, name),
        __config__=ConfigDict(extra="allow" if accepts_extra else "forbid"),
        **fields,
    )
    return ArgsBinding(model=model, context_param=context_param, accepts_extra=accepts_extra)
