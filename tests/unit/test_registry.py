"""The function task registry: the decorator, names and namespaces, argument models read from
signatures, readable 400s and the 404 that lists what exists."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, ValidationError, create_model

from taskhook.authoring import TaskContext, TaskStatus, function_task, monitored_background_task
from taskhook.model.task import Task
from taskhook.run.functions.arguments import ArgumentsInvalid, model_name, readable_errors
from taskhook.run.functions.registry import BUILTIN_MODULES, REGISTRY, Registry, UnknownTask, load_task_modules


@pytest.fixture
def registry() -> Registry:
    return Registry()


class InputArgs(BaseModel):
    name: str
    age: int


DEFAULT_ARGS = InputArgs(name="Anonymous", age=0)


def test_the_seed_003_name_is_an_alias_of_the_clear_one() -> None:
    assert monitored_background_task is function_task


def test_bare_decorator_takes_the_namespace_from_the_module(registry: Registry) -> None:
    @registry.task
    async def task1(task, **kwargs):  # type: ignore[no-untyped-def]
        return "x"

    definition = registry.get("test_registry", "task1")
    assert definition.qualified_name == "test_registry.task1"
    assert definition.function is task1  # the function is returned unchanged
    assert definition.is_async
    assert definition.binding.context_param == "task"
    assert definition.binding.accepts_extra


def test_options_and_docstring(registry: Registry) -> None:
    @registry.task(namespace="reports", name="monthly", timeout=60, max_retries=2, retry_backoff="linear",
                   max_wait_time=600, priority=9)
    def build(ctx: TaskContext, month: str) -> str:
        """Build the monthly report."""
        return month

    definition = registry.get("reports", "monthly")
    assert (definition.timeout, definition.max_retries, definition.retry_backoff, definition.max_wait_time,
            definition.priority) == (60, 2, "linear", 600, 9)
    assert definition.description == "Build the monthly report."
    assert not definition.is_async


def test_static_methods_work_in_either_order(registry: Registry) -> None:
    class State:
        @staticmethod
        @registry.task(namespace="state")
        async def inner(task: TaskContext) -> None: ...

        @registry.task(namespace="state")
        @staticmethod
        async def outer(task: TaskContext) -> None: ...

    assert registry.names() == ["state.inner", "state.outer"]
    assert callable(State.inner) and callable(State.outer)


@pytest.mark.parametrize("options, problem", [
    ({"timeout": 0}, "timeout must be between 1 and 900"),
    ({"max_retries": 11}, "max_retries must be between 0 and 10"),
    ({"retry_backoff": "random"}, "retry_backoff must be linear or exponential"),
    ({"max_wait_time": 0}, "max_wait_time must be between 1 and 86400"),
    ({"priority": 11}, "priority must be between 1 and 10"),
    ({"namespace": "a.b"}, "namespace 'a.b' must be"),
    ({"name": "has space"}, "name 'has space' must be"),
])
def test_bad_options_fail_at_import(registry: Registry, options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        registry.task(namespace=options.pop("namespace", "ns"), name=options.pop("name", "job"), **options)(
            lambda task: None)


def test_a_second_function_under_the_same_name_is_refused(registry: Registry) -> None:
    @registry.task(namespace="ns", name="job")
    def first(task: TaskContext) -> None: ...

    registry.task(namespace="ns", name="job")(first)  # the same function again (a reload) is fine

    with pytest.raises(ValueError, match="ns.job is already registered by .*first"):
        @registry.task(namespace="ns", name="job")
        def second(task: TaskContext) -> None: ...


def test_signatures_a_body_cannot_fill_are_refused(registry: Registry) -> None:
    with pytest.raises(TypeError, match="must be passable by keyword"):
        registry.task(namespace="ns", name="star")(lambda task, *rest: None)
    with pytest.raises(TypeError, match="must be passable by keyword"):
        registry.task(namespace="ns", name="slash")(lambda task, a, /: None)
    with pytest.raises(TypeError, match="only one task context"):
        @registry.task(namespace="ns")
        def two(a: TaskContext, b: TaskContext) -> None: ...


def test_unknown_names_list_what_is_registered(registry: Registry) -> None:
    registry.task(namespace="b", name="two")(lambda task: None)
    registry.task(namespace="a", name="one")(lambda task: None)
    with pytest.raises(UnknownTask) as caught:
        registry.get("a", "three")
    assert caught.value.status_code == 404
    assert caught.value.message == "Unknown task a.three. Registered tasks: a.one, b.two"
    assert Registry()._unknown("x").message == "Unknown task x. Registered tasks: none"


def test_find_by_qualified_or_unique_bare_name(registry: Registry) -> None:
    registry.task(namespace="a", name="one")(lambda task: None)
    registry.task(namespace="a", name="two")(lambda task: None)
    registry.task(namespace="b", name="two")(lambda task: None)
    assert registry.find("a.one").qualified_name == "a.one"
    assert registry.find("one").qualified_name == "a.one"
    assert registry.find("b.two").qualified_name == "b.two"
    with pytest.raises(UnknownTask, match=r"two \(ambiguous: use namespace.name\)"):
        registry.find("two")
    with pytest.raises(UnknownTask, match="Unknown task Example Task. Registered tasks: a.one"):
        registry.find("Example Task")


# ---------------------------------------------------------------------------------------------
# arguments


def test_parameters_become_a_strict_model(registry: Registry) -> None:
    @registry.task(namespace="ns")
    def resize(task: TaskContext, url: str, width: Annotated[int, Field(ge=1)] = 800,
               tags: list[str] | None = None) -> None: ...

    definition = registry.get("ns", "resize")
    assert definition.stored_args({"url": "u"}) == {"url": "u", "width": 800, "tags": None}
    assert definition.stored_args({"url": "u", "width": "640"}) == {"url": "u", "width": 640, "tags": None}
    with pytest.raises(ArgumentsInvalid) as caught:
        definition.stored_args({"width": 0, "colour": "red"})
    assert caught.value.status_code == 400
    assert caught.value.message == (
        "Invalid arguments for ns.resize: url: Field required; "
        "width: Input should be greater than or equal to 1; colour: unknown field"
    )
    schema = definition.binding.json_schema()
    assert schema["title"] == "NsResizeArgs" and schema["required"] == ["url"]
    assert schema["additionalProperties"] is False


def test_a_model_parameter_is_the_whole_body(registry: Registry) -> None:
    @registry.task(namespace="example_task2")
    async def task2_with_args(task: TaskContext, task_args: InputArgs = DEFAULT_ARGS) -> str:
        return f"{task_args.name} {task_args.age}"

    definition = registry.get("example_task2", "task2_with_args")
    assert definition.binding.model_param == "task_args"
    assert definition.stored_args({"name": "Matt", "age": 25}) == {"name": "Matt", "age": 25}
    assert definition.stored_args({}) == {"name": "Anonymous", "age": 0}  # the default, shown as stored
    with pytest.raises(ArgumentsInvalid, match="age: Input should be a valid integer"):
        definition.stored_args({"name": "Matt", "age": "old"})


def test_a_model_parameter_without_default_requires_a_body(registry: Registry) -> None:
    @registry.task(namespace="ns")
    def needs(ctx: TaskContext, args: InputArgs) -> None: ...

    with pytest.raises(ArgumentsInvalid, match="name: Field required; age: Field required"):
        registry.get("ns", "needs").stored_args({})


def test_kwargs_accept_anything_and_receive_it(registry: Registry) -> None:
    seen: dict[str, Any] = {}

    @registry.task(namespace="ns")
    def anything(task, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)

    definition = registry.get("ns", "anything")
    stored = definition.stored_args({"a": 1, "b": [True]})
    assert stored == {"a": 1, "b": [True]}
    definition.prepare_call(context(), stored)()
    assert seen == {"a": 1, "b": [True]}


def test_a_function_without_context_gets_only_its_arguments(registry: Registry) -> None:
    @registry.task(namespace="ns")
    def add(a: int, b: int = 2) -> int:
        return a + b

    definition = registry.get("ns", "add")
    assert definition.binding.context_param is None
    assert definition.prepare_call(context(), definition.stored_args({"a": 40}))() == 42


def test_the_call_gets_typed_values_back_from_the_stored_json(registry: Registry) -> None:
    @registry.task(namespace="ns")
    def typed(task: TaskContext, person: InputArgs, count: int) -> tuple[str, int, int]:
        return (person.name, person.age, count)

    definition = registry.get("ns", "typed")
    stored = definition.stored_args({"person": {"name": "Ada", "age": 36}, "count": 3})
    assert stored == {"person": {"name": "Ada", "age": 36}, "count": 3}
    assert definition.prepare_call(context(), stored)() == ("Ada", 36, 3)


def test_more_than_ten_problems_are_summarised() -> None:
    fields: dict[str, Any] = {f"f{i}": (int, ...) for i in range(12)}
    with pytest.raises(ValidationError) as caught:
        create_model("Wide", **fields).model_validate({})
    text = readable_errors(caught.value)
    assert text.startswith("f0: Field required; f1: Field required")
    assert text.endswith("f9: Field required; and 2 more")


def test_model_names_are_identifiers() -> None:
    assert model_name("example_task2", "task2_with_args") == "ExampleTask2Task2WithArgsArgs"
    assert model_name("builtin", "fetch-url") == "BuiltinFetchUrlArgs"


def test_the_builtin_modules_register_the_seed_examples() -> None:
    load_task_modules(["builtin"])
    names = set(REGISTRY.names())
    assert {"example_task.task1", "example_task2.task2_with_args", "builtin.fetch_url"} <= names
    assert len(BUILTIN_MODULES) == 3


def test_a_broken_configured_module_is_an_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_task_modules(["tasks.no_such_module"], Registry())


def context() -> TaskContext:
    task = Task.model_validate({"id": "t", "teamId": "team", "status": TaskStatus.PROCESSING,
                                "createdAt": "2024-01-01T00:00:00.000Z"})
    return TaskContext(task, "token")
