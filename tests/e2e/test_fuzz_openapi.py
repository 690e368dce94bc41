"""schemathesis over the running local stack's `/openapi.json` (issue 11): no 5xx, and every answer
is one the document describes (status code, content type, body schema). The budget is bounded and
the run deterministic (Hypothesis' `derandomize`, no example database), so it sends the same cases
every time.

Each operation is fuzzed with positive cases (what the schema allows) and negative ones (what it
refuses); a negative case is only checked for 5xx, since its refusal's status is the point.

schemathesis' lazy `from_fixture` loader does not run under pytest 9 (it reads `Node._nodeid`), so
the operations come from the same document built in-process (the test checks that it is the one
the stack serves) and each is run through `APIOperation.as_strategy`, schemathesis' documented
way into a plain Hypothesis test.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import TASK_MODULES, Stack

# Per operation and mode: the whole file stays under a minute. A longer hunt: TASKHOOK_FUZZ_EXAMPLES=200.
MAX_EXAMPLES = int(os.environ.get("TASKHOOK_FUZZ_EXAMPLES", "10"))
CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                              response_schema_conformance],
    GenerationMode.NEGATIVE: [not_a_server_error],
}


def _document() -> dict[str, Any]:
    """The document the stack serves: the shipped one with the stack's function tasks."""
    from taskhook.intake.openapi import build_openapi  # noqa: PLC0415
    from taskhook.run.functions.registry import load_task_modules  # noqa: PLC0415

    return build_openapi(load_task_modules(TASK_MODULES.split(",")))


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every documented operation in both modes; negative only where there is input to get wrong."""
    cases = []
    for path, operations in _document()["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@pytest.fixture(scope="module")
def api(stack: Stack) -> tuple[Any, dict[str, str]]:
    """The document the stack serves, loaded by schemathesis, and a fresh team's key (the fuzzer's
    tasks and secret rotations touch nobody else)."""
    team = stack.new_team()
    schema = schemathesis.openapi.from_url(stack.url + "/openapi.json", timeout=10)
    schema.config.update(base_url=stack.url)
    return schema, {"Authorization": f"Bearer {team.key}"}


def test_the_served_document_is_the_one_fuzzed_here(stack: Stack) -> None:
    assert requests.get(stack.url + "/openapi.json", timeout=10).json() == _document()


@pytest.mark.parametrize(("label", "mode"), _cases(), ids=[f"{label} {mode}" for label, mode in _cases()])
def test_the_api_answers_as_its_openapi_document_says(api: tuple[Any, dict[str, str]], label: str,
                                                      mode: GenerationMode) -> None:
    schema, auth = api
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"
    session = requests.Session()

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        case.call_and_validate(session=session, headers=dict(auth), checks=CHECKS[mode], timeout=30)

    fuzz()
