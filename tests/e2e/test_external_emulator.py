"""With AWS_ENDPOINT_URL set, the local stack uses that emulator (how LocalStack is used) instead
of starting its own: here a moto server this test starts, standing in for LocalStack."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from infra.local_stack import wait_for_port
from tests.e2e.conftest import ROOT, clean_env, free_port, logs_of, pid_alive
from tests.support.targets import TargetServer


def test_the_stack_uses_the_emulator_aws_endpoint_url_names(tmp_path: Path) -> None:
    moto_port = free_port()
    emulator = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{moto_port}"
    wait_for_port("127.0.0.1", moto_port, 30, emulator)  # LocalStack would be up before make run
    port = free_port()
    env = clean_env(tmp_path, PORT=str(port), AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                    AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                    TASKHOOK_DEV_API_KEY="th_external_emulator_key")
    stack = subprocess.Popen([sys.executable, "-m", "infra.local_stack", "--port", str(port)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        state_file = tmp_path / "stack.json"
        while not state_file.exists() and time.monotonic() < deadline and stack.poll() is None:
            time.sleep(0.2)
        if not state_file.exists():
            stack.kill()
            raise AssertionError(f"no stack: {stack.stdout.read().decode() if stack.stdout else ''}"
                                 f"{logs_of(tmp_path)}")
        state = json.loads(state_file.read_text())
        assert state["emulator"] == endpoint
        assert "emulator" not in state["pids"]  # it started none of its own
        assert state["devKey"] == "th_external_emulator_key"
        # The resources are in the emulator we named.
        import boto3
        tables = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing").list_tables()
        assert state["env"]["TASKS_TABLE"] in tables["TableNames"]

        with TargetServer() as target:
            headers = {"Authorization": "Bearer th_external_emulator_key"}
            created = requests.post(f"{state['url']}/v1/tasks", headers=headers, timeout=30,
                                    json={"targetUrl": target.url("/ext")})
            assert created.status_code == 201, created.text
            task_id = created.json()["task"]["id"]
            status = ""
            while time.monotonic() < deadline + 30 and status != "completed":
                status = requests.get(f"{state['url']}/v1/tasks/{task_id}?wait=5", headers=headers,
                                      timeout=30).json()["task"]["status"]
            assert status == "completed"
            assert len(target.calls("/ext")) == 1
    finally:
        stack.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            stack.wait(timeout=20)
        banner = stack.stdout.read().decode() if stack.stdout else ""
        emulator.terminate()
        emulator.wait(timeout=10)
    assert stack.returncode == 0, banner
    assert "external, from AWS_ENDPOINT_URL" in banner
    assert not any(pid_alive(p) for p in state["pids"].values())
