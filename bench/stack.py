"""The systems under test as processes: Taskhook's local stack (`python -m infra.local_stack`, with
its own state directory and AWS call log) and the target server (`python -m bench.target`)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from infra import aws_calls

ROOT = Path(__file__).resolve().parent.parent
# Variables of the caller's environment that would point the stack somewhere else.
_FOREIGN_PREFIXES = ("AWS_", "TASKHOOK_", "POWERTOOLS_")
_FOREIGN_NAMES = ("TASKS_TABLE", "API_KEYS_TABLE", "IDEMPOTENCY_TABLE", "QUEUE_HIGH_URL", "QUEUE_NORMAL_URL",
                  "QUEUE_LOW_URL", "DLQ_URL", "OUTPUTS_BUCKET", "NOTIFICATIONS_QUEUE_URL", "TEAMS_TABLE",
                  "CONNECTIONS_TABLE", "WEBSOCKET_MANAGEMENT_URL", "PORT")


# Kept: an external emulator the caller names (AWS_ENDPOINT_URL: `make test-localstack` runs the
# same tests and benchmarks against LocalStack) and the local credentials' value for it.
_KEPT_NAMES = ("AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "TASKHOOK_LOCAL_CREDENTIALS")


def external_endpoint() -> str | None:
    """The external emulator the stacks started here use, if the caller names one."""
    return os.environ.get("AWS_ENDPOINT_URL") or None


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(_FOREIGN_PREFIXES) or k in _FOREIGN_NAMES) or k in _KEPT_NAMES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


class LocalStack:
    """One `python -m infra.local_stack` in its own session, state directory and call log."""

    def __init__(self, workdir: Path | None = None, **env: str) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="taskhook-bench-"))
        self.state_dir = self.workdir / "state"
        self.call_dir = self.workdir / "aws-calls"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.call_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {}

    @property
    def env(self) -> dict[str, str]:
        return clean_env(TASKHOOK_STATE_DIR=str(self.state_dir), TASKHOOK_AWS_CALL_LOG=str(self.call_dir),
                         **self.extra_env)

    def start(self, timeout: float = 90.0) -> dict[str, Any]:
        port = free_port()
        env = self.env
        env["PORT"] = str(port)
        with open(self.workdir / "supervisor.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.local_stack", "--port", str(port)], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        state_file = self.state_dir / "stack.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local stack exited with {self.process.returncode}:\n{self.logs()}")
            if state_file.exists():
                with contextlib.suppress(OSError, ValueError):
                    state = json.loads(state_file.read_text())
                    with urllib.request.urlopen(state["url"] + "/health", timeout=2) as answer:
                        if answer.status == 200:
                            self.state = state
                            return state
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"local stack did not come up in {timeout:.0f}s:\n{self.logs()}")

    @property
    def url(self) -> str:
        return str(self.state["url"])

    def pids(self) -> dict[str, int]:
        """supervisor, api, runner, emulator (re-read: the supervisor restarts a dead runner)."""
        with contextlib.suppress(OSError, ValueError):
            self.state["pids"] = json.loads((self.state_dir / "stack.json").read_text())["pids"]
        assert self.process is not None
        return {"supervisor": self.process.pid, **{k: int(v) for k, v in self.state["pids"].items()}}

    def live_runner_pid(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pids().get("runner")
            if pid and pid_alive(pid):
                return pid
            time.sleep(0.1)
        raise RuntimeError("no live runner")

    def create_key(self, team: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "infra.cli", "keys", "create", "--team", team, "--name", "bench"],
            cwd=ROOT, env=clean_env(TASKHOOK_STATE_DIR=str(self.state_dir)), capture_output=True, text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"keys create failed: {done.stderr}")
        return str(json.loads(done.stdout)["apiKey"])

    def aws_counts(self) -> dict[str, Any]:
        return aws_calls.read_counts(self.call_dir)

    def stream_units(self, task_ids: list[str]) -> dict[str, Any]:
        """The write units of every tasks-table stream record of these tasks (bench/units.py):
        each write priced from its old and new image, per table, index and change."""
        from .capacity import TASKS_TABLE, tasks_table
        from .units import read_stream, stream_units

        env = self.state["env"]
        arn = self.boto("dynamodb").describe_table(TableName=env["TASKS_TABLE"])["Table"]["LatestStreamArn"]
        records = read_stream(self.boto("dynamodbstreams"), arn)
        table = tasks_table()
        assert table.name == TASKS_TABLE
        return stream_units(table, records, set(task_ids)).as_dict()

    def boto(self, service: str) -> Any:
        import boto3

        env = self.state["env"]
        return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=env["AWS_SESSION_TOKEN"])

    def logs(self, limit: int = 3000) -> str:
        parts = []
        for path in sorted(list(self.state_dir.glob("*.log")) + [self.workdir / "supervisor.log"]):
            with contextlib.suppress(OSError):
                parts.append(f"----- {path.name} -----\n{path.read_text(errors='replace')[-limit:]}")
        return "\n".join(parts)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Last resort: the process group is the one this object started."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Target:
    """`python -m bench.target` in its own process."""

    def __init__(self, workdir: Path) -> None:
        port_file = workdir / "target.port"
        port_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.target", "--port-file", str(port_file)], cwd=ROOT, env=clean_env(),
            stdout=subprocess.DEVNULL, stderr=open(workdir / "target.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the target server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.base = f"http://127.0.0.1:{self.port}"

    def _get(self, path: str, method: str = "GET") -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    def configure(self, fail: float = 0.0, hang: float = 0.0, close: float = 0.0, hang_seconds: float = 5.0,
                  seed: int = 1, answer_bytes: int | None = None) -> None:
        """The faults drawn per call; `answer_bytes`: the size of a 200's JSON answer (0: `{"ok": true}`,
        None: unchanged)."""
        size = "" if answer_bytes is None else f"&answer_bytes={answer_bytes}"
        self._get(f"/__config?fail={fail}&hang={hang}&close={close}&hang_seconds={hang_seconds}&seed={seed}{size}",
                  "POST")

    def answer_bytes(self) -> int:
        """The size of the JSON a 200 answers now (0: `{"ok": true}`, 12 bytes)."""
        size = int(self._get("/__config", "POST").get("answer_bytes", 0))
        return size or 12

    def count(self, prefix: str) -> int:
        return int(self._get(f"/__count?prefix={prefix}")["count"])

    def calls(self, prefix: str) -> list[tuple[str, float, str]]:
        return [tuple(c) for c in self._get(f"/__calls?prefix={prefix}")]  # type: ignore[misc]

    def wait_for(self, prefix: str, count: int, timeout: float, progress: Any = None) -> int:
        deadline = time.monotonic() + timeout
        seen = self.count(prefix)
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.2)
            seen = self.count(prefix)
            if progress:
                progress(seen)
        return seen

    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
