"""infra/localstack_env.py: stopping LocalStack stops its whole process tree, DynamoDB Local
included (it runs in a session of its own: a signal to LocalStack's process group missed it, and
a java process outlived every run)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.stack import pid_alive
from infra import localstack_env
from infra.localstack_env import LocalStackProcess, descendants

# A parent that starts a child in a new session (as LocalStack starts DynamoDB Local), prints its
# pid and ignores SIGTERM, like a runtime slow to shut down.
PARENT = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_stop_ends_every_descendant_even_one_in_its_own_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localstack_env, "STOP_GRACE", 0.5)
    emulator = LocalStackProcess(Path(sys.executable), port=1)
    emulator.root = tmp_path / "root"
    emulator.process = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                                        start_new_session=True)
    assert emulator.process.stdout is not None
    child = int(emulator.process.stdout.readline())
    assert child in descendants(emulator.process.pid)

    emulator.stop()

    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.process.poll() is not None
    assert not pid_alive(child), "the child in its own session outlived stop()"
