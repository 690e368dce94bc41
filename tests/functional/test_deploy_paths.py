"""Both deploy paths ship the same handlers, the same domain code and the same task modules.

`chalice package` (vendor/ links to src/taskhook, functions/ and tasks/) is
compared with what `sam build` makes from template.yaml (the Makefile targets its BuildMethod runs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]


def _digest_tree(base: Path, prefix: str) -> dict[str, str]:
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((base / prefix).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _tracked(prefix: str) -> set[str]:
    """The repository's modules under `prefix`: committed, or new and not ignored (work in progress
    ships too, so it must be compared too)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", prefix], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {line for line in out.stdout.split() if line.endswith(".py")}


@pytest.fixture(scope="module")
def chalice_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, zipfile.ZipFile]:
    out = tmp_path_factory.mktemp("chalice")
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([str(chalice), "package", "--stage", "dev", str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return json.loads((out / "sam.json").read_text()), zipfile.ZipFile(out / "deployment.zip")


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `sam build` produces: one function artifact (all functions share it) and the layer."""
    out = tmp_path_factory.mktemp("sam")
    run = {"cwd": ROOT, "check": True, "capture_output": True}
    subprocess.run(["make", "-s", "build-ApiFunction", f"ARTIFACTS_DIR={out / 'function'}"], **run)
    subprocess.run(["make", "-s", "build-TaskhookLayer", "PIP_INSTALL=true",
                    f"ARTIFACTS_DIR={out / 'layer'}"], **run)
    return out


def _template_functions() -> dict[str, dict]:
    template = load_template()
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_both_paths_declare_the_same_handlers(chalice_package: tuple[dict, zipfile.ZipFile]) -> None:
    sam_json, _ = chalice_package
    chalice_handlers = {r["Properties"]["Handler"] for r in sam_json["Resources"].values()
                        if r["Type"] == "AWS::Serverless::Function"}
    template_handlers = {f["Properties"]["Handler"] for f in _template_functions().values()}
    assert chalice_handlers == template_handlers
    assert {"app.app", "app.execute_high", "app.execute_normal", "app.execute_low", "app.on_dead_letter",
            "app.on_task_change", "app.sweep"} <= template_handlers


def test_every_template_function_is_built_by_the_shared_makefile_target() -> None:
    for name, function in _template_functions().items():
        assert name.endswith("Function"), name  # matched by the Makefile's build-%Function
        assert function["Metadata"]["BuildMethod"] == "makefile"
        assert function["Properties"]["CodeUri"] == "."


def test_queue_and_schedule_wiring_agree(chalice_package: tuple[dict, zipfile.ZipFile]) -> None:
    sam_json, _ = chalice_package
    template = load_template()
    resolver = Resolver(template, physical=lambda logical: {"QueueName": template["Resources"][logical]
                                                              ["Properties"]["QueueName"]})
    template_queues: dict[str, tuple[str, int]] = {}
    template_rates: dict[str, str] = {}
    for function in _template_functions().values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                logical = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                name = resolver.resolve(template["Resources"][logical]["Properties"]["QueueName"])
                template_queues[function["Properties"]["Handler"]] = (name, event["Properties"]["BatchSize"])
            if event["Type"] == "Schedule":
                template_rates[function["Properties"]["Handler"]] = event["Properties"]["Schedule"]

    chalice_queues: dict[str, tuple[str, int]] = {}
    chalice_rates: dict[str, str] = {}
    for resource in sam_json["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            props = event["Properties"]
            if event["Type"] == "SQS":
                queue = json.dumps(props["Queue"])
                name = next(n for n, _ in template_queues.values() if n in queue)
                chalice_queues[resource["Properties"]["Handler"]] = (name, props["BatchSize"])
            if event["Type"] == "Schedule":
                chalice_rates[resource["Properties"]["Handler"]] = props["Schedule"]
    assert chalice_queues == template_queues
    assert chalice_rates == template_rates == {"app.sweep": "rate(1 minute)"}


def test_both_paths_ship_identical_code(chalice_package: tuple[dict, zipfile.ZipFile], sam_build: Path,
                                       tmp_path: Path) -> None:
    _, archive = chalice_package
    archive.extractall(tmp_path / "chalice")
    chalice_code = {**_digest_tree(tmp_path / "chalice", "taskhook"), **_digest_tree(tmp_path / "chalice", "functions"),
                    **_digest_tree(tmp_path / "chalice", "tasks")}
    chalice_code["app.py"] = hashlib.sha256((tmp_path / "chalice" / "app.py").read_bytes()).hexdigest()

    sam_code = {**_digest_tree(sam_build / "layer" / "python", "taskhook"),
                **_digest_tree(sam_build / "function", "functions"), **_digest_tree(sam_build / "function", "tasks")}
    sam_code["app.py"] = hashlib.sha256((sam_build / "function" / "app.py").read_bytes()).hexdigest()

    assert chalice_code == sam_code
    # ...and it is the repository's code, every tracked module of it.
    expected = {p.removeprefix("src/") for p in _tracked("src/taskhook")}
    expected |= _tracked("functions") | _tracked("tasks") | {"app.py"}
    assert set(sam_code) == expected
    # The function tasks ship on both paths: the built-in ones in the layer, yours in tasks/.
    assert {"taskhook/run/functions/builtin/example_task.py", "taskhook/run/functions/builtin/fetch_url.py",
            "tasks/__init__.py"} <= set(sam_code)


def test_chalice_package_carries_the_runtime_dependencies(chalice_package: tuple[dict, zipfile.ZipFile]) -> None:
    _, archive = chalice_package
    names = set(archive.namelist())
    for package in ("pynamodb/", "pydantic/", "pydantic_core/", "aws_lambda_powertools/", "requests/",
                    "swagger_ui_bundle/"):
        assert any(n.startswith(package) for n in names), package
