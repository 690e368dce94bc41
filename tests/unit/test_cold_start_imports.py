"""What a cold start imports (issue 17, part 3). Every Lambda function's handler is `app.<name>`, so
every function's init imports app.py: it must stay Chalice and the routes' declarations, and each
event source's function must import its own handler's code only. A fresh interpreter per check
(`sys.modules` of this test process has everything in it); no timing here: bench/cold_start.py
measures the milliseconds (bench/report.md, "Cold start")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Nothing of this is needed to declare the routes and event sources; each costs tens of milliseconds.
HEAVY_FOR_INIT = [
    "pydantic", "boto3", "botocore", "pynamodb", "requests", "urllib3", "aws_lambda_powertools",
    "taskhook.model.task", "taskhook.intake.validation", "taskhook.intake.openapi", "taskhook.intake.tasks",
    "taskhook.adapters.dynamo.tables", "taskhook.adapters.sqs",
    "functions.executor", "functions.dispatcher", "functions.deliverer", "functions.sweeper",
    "functions.dead_letter", "functions.live",
]
API_ONLY = ["taskhook.intake.validation", "taskhook.intake.openapi", "taskhook.intake.tasks", "swagger_ui"]
# handler module -> modules that serve other functions only
NOT_IMPORTED_BY = {
    "functions.executor": [*API_ONLY, "taskhook.dispatch.stream", "taskhook.notify.delivery", "functions.dispatcher",
                           "functions.deliverer", "functions.live"],
    "functions.dispatcher": [*API_ONLY, "taskhook.run.executor", "requests", "functions.executor",
                             "functions.deliverer"],
    "functions.deliverer": [*API_ONLY, "taskhook.run.executor", "taskhook.dispatch.stream", "functions.executor"],
    "functions.sweeper": [*API_ONLY, "taskhook.run.executor", "taskhook.dispatch.stream", "requests"],
    "functions.dead_letter": [*API_ONLY, "taskhook.run.executor", "taskhook.dispatch.stream", "requests"],
    "functions.live": [*API_ONLY, "taskhook.run.executor", "taskhook.dispatch.stream", "requests"],
}


def imported_after(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `modules` from this tree."""
    code = ("import importlib, json, sys\n"
            f"for name in {list(modules)!r}:\n    importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return set(json.loads(done.stdout))


def test_app_declares_every_entry_point_without_importing_their_work() -> None:
    loaded = imported_after("app")
    assert "chalice" in loaded and "functions.api" in loaded  # the routes are declared: it did import
    assert sorted(m for m in HEAVY_FOR_INIT if m in loaded) == []


@pytest.mark.parametrize("handler", sorted(NOT_IMPORTED_BY))
def test_a_function_imports_only_its_own_handler(handler: str) -> None:
    loaded = imported_after("app", handler)
    assert handler in loaded
    assert sorted(m for m in NOT_IMPORTED_BY[handler] if m in loaded) == []


def test_the_create_path_checks_urls_without_the_http_client() -> None:
    """POST /v1/tasks builds the task service (its outbound policy checks the URLs) but never calls
    a URL: the HTTP client (requests) is for the executor and the deliverer."""
    code = ("import json, sys\nimport app\nfrom taskhook.container import container\n"
            "container().task_service\nprint(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
           "AWS_DEFAULT_REGION": "us-east-1", "TASKS_TABLE": "t", "API_KEYS_TABLE": "k", "QUEUE_HIGH_URL": "h",
           "QUEUE_NORMAL_URL": "n", "QUEUE_LOW_URL": "l"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    loaded = set(json.loads(done.stdout))
    assert "taskhook.adapters.outbound" in loaded and "taskhook.intake.tasks" in loaded
    # (urllib3 comes with botocore)
    assert sorted(m for m in ("requests", "taskhook.adapters.http") if m in loaded) == []
