"""Both deploy artifacts, built by the README's own command (`make package`), ship the same thing.

`make package` runs `chalice package` (build/chalice: vendor/ links to src/taskhook, functions/ and
tasks/) and `sam build` (build/sam: template.yaml's makefile build method, no Docker). Both must ship
the same handlers, domain code, task modules and dependency versions, built for the template's
runtime and architecture (Python 3.12, arm64), not this machine's; the built template must pass cfn-lint.
The build runs once per session: 10-40 s (measured); `make test` installs the SAM CLI's and
Chalice's venvs before (about 1.5 min once: `make package` on a fresh clone took 2 min 12 s in all)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
EM_AARCH64, EM_X86_64 = 183, 62
ELF_MACHINES = {"arm64": EM_AARCH64, "x86_64": EM_X86_64}


class _Loader(yaml.SafeLoader):
    """The built template: short-form tags kept as opaque values (only Resources are read)."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


@pytest.fixture(scope="session")
def built() -> Path:
    """`make package`, as the README says, on the current tree (once per session)."""
    started = time.monotonic()
    out = subprocess.run(["make", "package"], cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    print(f"make package: {took:.1f} s")
    return BUILD


@pytest.fixture(scope="session")
def chalice_sam(built: Path) -> dict[str, Any]:
    return json.loads((built / "chalice" / "sam.json").read_text())


@pytest.fixture(scope="session")
def chalice_tree(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chalice")
    with zipfile.ZipFile(built / "chalice" / "deployment.zip") as archive:
        archive.extractall(out)
    return out


@pytest.fixture(scope="session")
def sam_template(built: Path) -> dict[str, Any]:
    return yaml.load((built / "sam" / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 (safe loader)


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


def _distributions(site: Path) -> dict[str, str]:
    """name -> version of every distribution installed in `site` (its *.dist-info folders)."""
    found = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def _template_functions() -> dict[str, dict[str, Any]]:
    template = load_template()
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _elf_machine(path: Path) -> tuple[int, int]:
    """(EI_CLASS, e_machine) of an ELF file: 2 is 64-bit; e_machine 183 is aarch64, 62 x86-64."""
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    byte_order = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(f"{byte_order}H", head[18:20])
    return head[4], machine


def test_both_paths_declare_the_same_handlers(chalice_sam: dict[str, Any], sam_template: dict[str, Any]) -> None:
    chalice_handlers = {f["Properties"]["Handler"] for f in _functions(chalice_sam).values()}
    sam_handlers = {f["Properties"]["Handler"] for f in _functions(sam_template).values()}
    assert chalice_handlers == sam_handlers == {f["Properties"]["Handler"] for f in _template_functions().values()}
    assert {"app.app", "app.execute_high", "app.execute_normal", "app.execute_low", "app.on_dead_letter",
            "app.on_task_change", "app.sweep"} <= sam_handlers


def test_both_paths_target_the_templates_runtime_and_architecture(chalice_sam: dict[str, Any]) -> None:
    globals_ = load_template()["Globals"]["Function"]
    for function in _functions(chalice_sam).values():
        assert function["Properties"]["Runtime"] == globals_["Runtime"] == "python3.12"
        assert function["Properties"]["Architectures"] == globals_["Architectures"] == ["arm64"]


def test_every_template_function_is_built_by_the_shared_makefile_target(built: Path) -> None:
    for name, function in _template_functions().items():
        assert name.endswith("Function"), name  # matched by the Makefile's build-%Function
        assert function["Metadata"]["BuildMethod"] == "makefile"
        assert function["Properties"]["CodeUri"] == "."
        # ...and every one of them got the same artifact.
        assert _digest_tree(built / "sam" / name, ".") == _digest_tree(built / "sam" / "ApiFunction", "."), name


def test_queue_and_schedule_wiring_agree(chalice_sam: dict[str, Any]) -> None:
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
    for resource in _functions(chalice_sam).values():
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


def test_both_paths_ship_identical_code(chalice_tree: Path, built: Path) -> None:
    chalice_code = {**_digest_tree(chalice_tree, "taskhook"), **_digest_tree(chalice_tree, "functions"),
                    **_digest_tree(chalice_tree, "tasks")}
    chalice_code["app.py"] = hashlib.sha256((chalice_tree / "app.py").read_bytes()).hexdigest()

    function, layer = built / "sam" / "ApiFunction", built / "sam" / "TaskhookLayer" / "python"
    sam_code = {**_digest_tree(layer, "taskhook"), **_digest_tree(function, "functions"),
                **_digest_tree(function, "tasks")}
    sam_code["app.py"] = hashlib.sha256((function / "app.py").read_bytes()).hexdigest()

    assert chalice_code == sam_code
    # ...and it is the repository's code, every tracked module of it.
    expected = {p.removeprefix("src/") for p in _tracked("src/taskhook")}
    expected |= _tracked("functions") | _tracked("tasks") | {"app.py"}
    assert set(sam_code) == expected
    # The function tasks ship on both paths: the built-in ones in the layer, yours in tasks/.
    assert {"taskhook/run/functions/builtin/example_task.py", "taskhook/run/functions/builtin/fetch_url.py",
            "tasks/__init__.py"} <= set(sam_code)


def test_both_paths_ship_the_same_pinned_dependency_versions(chalice_tree: Path, built: Path) -> None:
    chalice_deps = _distributions(chalice_tree)
    sam_deps = _distributions(built / "sam" / "TaskhookLayer" / "python")
    assert chalice_deps == sam_deps
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert {name: sam_deps.get(name) for name in pins} == pins


def test_both_paths_ship_every_importable_module_including_chalices_runtime(chalice_tree: Path, built: Path) -> None:
    """app.py imports chalice: `chalice package` ships its runtime (chalice/__init__.py, chalice/app.py),
    so the SAM artifact (function + layer) must too, or no SAM-deployed function can start."""
    function, layer = built / "sam" / "ApiFunction", built / "sam" / "TaskhookLayer" / "python"

    def top_level(*bases: Path) -> set[str]:
        return {p.name.removesuffix(".py") for base in bases for p in base.iterdir()
                if p.suffix == ".py" or (p / "__init__.py").is_file()}

    assert top_level(chalice_tree) == top_level(function, layer)
    assert {"chalice", "taskhook", "functions", "tasks", "app", "pydantic_core"} <= top_level(function, layer)
    for name in ("__init__.py", "app.py"):
        assert (layer / "chalice" / name).read_bytes() == (chalice_tree / "chalice" / name).read_bytes(), name


def test_every_compiled_module_is_built_for_the_templates_runtime_and_architecture(
        chalice_tree: Path, built: Path) -> None:
    globals_ = load_template()["Globals"]["Function"]
    abi = "cpython-" + globals_["Runtime"].removeprefix("python").replace(".", "")  # cpython-312
    (architecture,) = globals_["Architectures"]
    layer = built / "sam" / "TaskhookLayer" / "python"
    modules = sorted(layer.rglob("*.so"))
    assert {str(p.relative_to(layer)) for p in modules} == {str(p.relative_to(chalice_tree))
                                                            for p in chalice_tree.rglob("*.so")}
    assert any(p.name.startswith("_pydantic_core.") for p in modules)  # the one pydantic cannot run without
    for path in modules + sorted(chalice_tree.rglob("*.so")):
        assert path.name.endswith(f".{abi}-aarch64-linux-gnu.so") or path.name.endswith(".abi3.so"), path
        assert _elf_machine(path) == (2, ELF_MACHINES[architecture]), path


def test_the_built_template_passes_cfn_lint(built: Path) -> None:
    cfn_lint = ROOT / ".venv" / "bin" / "cfn-lint"
    out = subprocess.run([str(cfn_lint), str(built / "sam" / "template.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("target", ["deploy-sam", "deploy-chalice"])
def test_deploying_without_credentials_stops_with_a_clear_message(built: Path, tmp_path: Path, target: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_CA_BUNDLE=os.environ.get("AWS_CA_BUNDLE", ""))
    out = subprocess.run(["make", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert f"make {target}: no AWS credentials found" in out.stderr
    assert "sam build" not in out.stdout and "chalice deploy" not in out.stdout  # stopped before either


def _sam_api_routes() -> set[tuple[str, str]]:
    """(path, METHOD) of every HTTP API route template.yaml sends to the API function (its `$default`
    route, an HttpApi event with neither Path nor Method, is no route of the app: it answers 404)."""
    return {(e["Properties"]["Path"], e["Properties"]["Method"].upper())
            for e in _template_functions()["ApiFunction"]["Properties"]["Events"].values()
            if e["Type"] == "HttpApi" and "Path" in e["Properties"]}


def test_the_sam_api_routes_are_exactly_the_chalice_apps_routes() -> None:
    """Chalice routes on the matched route's path template (requestContext.resourcePath): behind a
    catch-all `/{proxy+}` every request would answer 405. So the template declares each route of the
    app, as `chalice package` does (a REST API there, an HTTP API here, payload format 1.0); API
    Gateway then passes the route and its path parameters as Chalice expects."""
    import app as lambdas

    chalice_routes = {(path, method) for path, methods in lambdas.app.routes.items() for method in methods}
    assert _sam_api_routes() == chalice_routes


def test_both_paths_serve_the_same_api_routes(chalice_sam: dict[str, Any]) -> None:
    (api,) = [r for r in chalice_sam["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    packaged = {(path, method.upper()) for path, methods in api["Properties"]["DefinitionBody"]["paths"].items()
                for method in methods}
    assert _sam_api_routes() == packaged


EXECUTORS = ("app.execute_high", "app.execute_normal", "app.execute_low")


def test_both_paths_give_the_executors_the_public_api_url(chalice_sam: dict[str, Any],
                                                          sam_template: dict[str, Any]) -> None:
    """A waiting task's callback URL starts with TASKHOOK_PUBLIC_URL (docs/waiting.md): in both
    artifacts the executors get the API's own URL unless configured otherwise, and only they do (the
    API's URL depends on the API function: the API function cannot depend on it)."""
    for template, api_url in (
        (sam_template, {"Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"}),
        (chalice_sam, {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}),
    ):
        for function in _functions(template).values():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            value = variables.get("TASKHOOK_PUBLIC_URL")
            if function["Properties"]["Handler"] in EXECUTORS:
                assert value == api_url or (isinstance(value, dict) and api_url in value["Fn::If"]), value
            else:
                assert value in (None, ""), (function["Properties"]["Handler"], value)


def test_both_paths_ship_the_dashboards_static_files(chalice_tree: Path, built: Path) -> None:
    """The dashboard's page and assets are files, not modules (the digests above compare *.py): the
    Chalice package (vendor/taskhook) and the SAM layer must both carry every one of them."""
    source = ROOT / "src" / "taskhook" / "dashboard"
    expected = {str(p.relative_to(source)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(source.rglob("*")) if p.is_file()}
    assert {"index.html", "assets/app.js", "assets/dashboard.css"} <= set(expected)
    for shipped in (chalice_tree / "taskhook" / "dashboard",
                    built / "sam" / "TaskhookLayer" / "python" / "taskhook" / "dashboard"):
        found = {str(p.relative_to(shipped)): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(shipped.rglob("*")) if p.is_file()}
        assert found == expected, shipped
