"""The task catalogue (GET /v1/functions) and display names: seed 003's "Example Task" is what the
dashboard shows and a task_name seed 000's POST /tasks/create accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taskhook.intake.function_tasks import FunctionTaskService, parse_named_task_request
from taskhook.run.functions.context import TaskContext
from taskhook.run.functions.registry import REGISTRY, Registry, UnknownTask, load_task_modules
from tests.support.fakes import InMemoryTaskRepository


@pytest.fixture
def builtin() -> FunctionTaskService:
    registry = load_task_modules(["builtin"])
    return FunctionTaskService(InMemoryTaskRepository(), registry, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))


def test_seed_003s_examples_have_their_display_names(builtin: FunctionTaskService) -> None:
    entries = {e["displayName"]: e for e in builtin.catalogue()}
    assert (entries["Example Task"]["namespace"], entries["Example Task"]["name"]) == ("example_task", "task1")
    two = entries["Example Task2"]
    assert (two["namespace"], two["name"]) == ("example_task2", "task2_with_args")
    assert two["description"] == "Background task that updates progress with input arguments."
    assert set(two["argsSchema"]["properties"]) == {"name", "age"}
    assert entries["builtin.fetch_url"]["argsSchema"]["required"] == ["url"]  # no display name: its qualified one


def test_seed_000s_own_example_creates_example_task_with_task_data_as_one_argument(
        builtin: FunctionTaskService) -> None:
    request = parse_named_task_request({"task_name": "Example Task", "task_data": "Some data related to the task",
                                        "callback_url": "https://yourcallbackurl.com"})
    task = builtin.start_named("team-a", request)
    assert task.qualified_name == "example_task.task1"
    assert task.args == {"task_data": "Some data related to the task"}
    definition = REGISTRY.get("example_task", "task1")
    assert definition.binding.parse(task.args, "x") == {"task_data": "Some data related to the task"}  # **kwargs
    assert builtin.start_named("team-a", parse_named_task_request({"task_name": "example task2"})).name == (
        "task2_with_args")


def test_display_names_are_unique_and_bounded() -> None:
    registry = Registry()

    @registry.task(namespace="a", display_name="Resize")
    def first(task: TaskContext) -> None: ...

    with pytest.raises(ValueError, match="display name 'resize' of b.second is already a.first's"):
        @registry.task(namespace="b", display_name="resize")
        def second(task: TaskContext) -> None: ...

    with pytest.raises(ValueError, match="display_name must be 1-100 characters"):
        @registry.task(namespace="c", display_name=" ")
        def third(task: TaskContext) -> None: ...

    assert registry.find("RESIZE").qualified_name == "a.first"
    with pytest.raises(UnknownTask):
        registry.find("Resize it")


def test_a_function_without_arguments_has_no_schema() -> None:
    registry = Registry()

    @registry.task(namespace="a")
    def plain(task: TaskContext) -> None: ...

    @registry.task(namespace="a")
    def open_ended(task: TaskContext, **kwargs: Any) -> None: ...

    service = FunctionTaskService(InMemoryTaskRepository(), registry)
    schemas = {e["name"]: e["argsSchema"] for e in service.catalogue()}
    assert schemas["plain"] is None and schemas["open_ended"] is not None
