"""Every command block the README and docs/ show, run as written.

A `bash` block that uses the running stack (`eval "$(bin/taskhook env)"`, `bin/taskhook`, curl) runs
verbatim in bash (`set -euo pipefail`) from the project root, against this session's local stack
(TASKHOOK_STATE_DIR names it, which is how `bin/taskhook` finds it): it must exit 0. Its curl calls
use `--fail-with-body`, so an error answer fails the block.

A block of `make` commands is checked against MAKE_COMMANDS: each command says which test runs it
exactly as written, or why none does (a 15-minute benchmark); a command the README gains without an
entry fails here. `make run` is run below, exactly, on a free port.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .conftest import ROOT, Stack, clean_env, free_port

DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "vault.md", ROOT / "docs" / "limits.md",
             ROOT / "docs" / "providers.md", ROOT / "docs" / "waiting.md", ROOT / "docs" / "retention.md",
             ROOT / "docs" / "upgrading.md"]
BLOCK_TIMEOUT = 90

# The make commands the documents show, and what runs each exactly as written.
MAKE_COMMANDS = {
    "make run": "test_make_run_starts_the_stack_prints_its_banner_and_stops (below)",
    "make test": ".ci/run (CI runs it on a clean clone for every submission)",
    "make test-localstack": ".ci/run (after make test)",
    'make test-localstack ARGS="--serve"': "not run by a test: it serves LocalStack until Ctrl-C "
                                           "(tests/unit/test_localstack_env.py covers its start and stop)",
    "make package": "tests/functional/test_deploy_paths.py",
    "make deploy-sam": "tests/functional/test_deploy_paths.py (without AWS credentials: the clear refusal)",
    "make deploy-chalice": "tests/functional/test_deploy_paths.py (without AWS credentials: the clear refusal)",
    "make bench": "not run by a test: 20 minutes with the Celery peer; its figures are bench/report.md's",
    "make bench-quick": "not run by a test: the same harness as make bench, 3 minutes",
    "make soak": "not run by a test: 30 minutes; tests/e2e/test_soak.py runs the same soak briefly",
    "TASKHOOK_TASK_MODULES=builtin,tasks.reports make run": "not run by a test: it needs the reader's "
                                                              "tasks/reports.py (the block above it)",
}


def bash_blocks(path: Path) -> list[tuple[str, str]]:
    """(an id naming the file and line, the block's text) for each ```bash block."""
    blocks, lines = [], path.read_text().splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```bash":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append((f"{path.relative_to(ROOT)}:{start}", "\n".join(lines[start:number - 1])))
            start = None
    return blocks


def make_lines(block: str) -> list[str]:
    """The block's commands, comments stripped, when it is a block of make commands."""
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    commands = [c for c in commands if c and not c.startswith("#")]
    return commands if commands and all(re.search(r"(^|\s)make\s", c + " ") for c in commands) else []


ALL_BLOCKS = [b for path in DOCUMENTS for b in bash_blocks(path)]
STACK_BLOCKS = [b for b in ALL_BLOCKS if not make_lines(b[1])]
MAKE_BLOCKS = [b for b in ALL_BLOCKS if make_lines(b[1])]


def test_the_documents_have_blocks_of_both_kinds() -> None:
    assert len(STACK_BLOCKS) >= 6 and len(MAKE_BLOCKS) >= 4, [b[0] for b in ALL_BLOCKS]


@pytest.mark.parametrize(("where", "block"), MAKE_BLOCKS, ids=[b[0] for b in MAKE_BLOCKS])
def test_every_make_command_shown_is_accounted_for(where: str, block: str) -> None:
    for command in make_lines(block):
        assert command in MAKE_COMMANDS, f"{where}: {command!r} is run by no test; add it to MAKE_COMMANDS"


@pytest.mark.parametrize(("where", "block"), STACK_BLOCKS, ids=[b[0] for b in STACK_BLOCKS])
def test_every_stack_block_runs_as_written(stack: Stack, where: str, block: str) -> None:
    env = clean_env(stack.state_dir)
    env["PATH"] = os.environ.get("PATH", "")
    process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)  # its background jobs (a target) die with it
    try:
        output, _ = process.communicate(timeout=BLOCK_TIMEOUT)
    finally:
        _kill_group(process)
    assert process.returncode == 0, f"{where} exited {process.returncode}:\n{output[-4000:]}"
    assert '{"error"' not in output, f"{where}:\n{output[-4000:]}"  # an API error body (a task's own `error` is data)


def test_make_run_starts_the_stack_prints_its_banner_and_stops(tmp_path: Path) -> None:
    """`make run`, as written (on a free port and in its own state directory: the environment, not the
    command, differs from a developer's shell)."""
    port = free_port()
    env = clean_env(tmp_path / "state", PORT=str(port))
    env["PATH"] = os.environ.get("PATH", "")
    process = subprocess.Popen(["bash", "-c", "make run"], cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    banner: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        text = "".join(banner)
        assert "Taskhook local stack is up" in text, text[-4000:]
        assert f"  API        http://127.0.0.1:{port}" in text
        assert f"  Dashboard  http://127.0.0.1:{port}/admins/tasks/" in text
        page = requests.get(f"http://127.0.0.1:{port}/admins/tasks/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
        assert 'eval "$(bin/taskhook env)"' in text
        # the line that points the `taskhook` command and the Python client at this stack (issue 18)
        client_line = next(line for line in banner if line.startswith("  Client     "))
        client_vars = subprocess.run(["bash", "-c", client_line.removeprefix("  Client").split("#")[0].strip() +
                                      '; echo "$TASKHOOK_URL $TASKHOOK_API_KEY"'],
                                     capture_output=True, text=True, timeout=10).stdout.split()
        assert client_vars[0] == f"http://127.0.0.1:{port}" and client_vars[1].startswith("th_")
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json() == {"status": "ok"}
        shell = subprocess.run(["bash", "-c", 'eval "$(bin/taskhook env)"; echo "$URL $KEY"'], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        url, key = shell.stdout.split()
        assert url == f"http://127.0.0.1:{port}" and key.startswith("th_")
        listed = requests.get(f"{url}/v1/tasks", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert listed.status_code == 200, listed.text
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: to the whole foreground group, as a terminal sends it
        rest, _ = process.communicate(timeout=60)
        assert "[taskhook] stopped" in rest, rest[-4000:]  # make itself then reports the interrupt
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
