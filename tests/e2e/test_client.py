"""The Python client (`taskhook_client`) and the `taskhook` command (.venv/bin/taskhook) against the
real local stack: create / get / list / wait / cancel / retry / run / download, the live feed,
verify_webhook on a real signed delivery, a create whose answer was lost retried into one task,
and the command in a pseudo-terminal (its progress bar reaching 100 %), its exit codes and --json."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from taskhook_client import AsyncTaskhook, BadRequest, Taskhook, WaitTimeout, WebhookVerificationError, verify_webhook

from tests.e2e.conftest import FAR_FUTURE, ROOT, Client, Stack, clean_env, free_port
from tests.support.targets import TargetServer

COMMAND = Path(sys.executable).parent / "taskhook"  # the package's console script, beside the venv's python
EXAMPLE = "example_task2.task2_with_args"


@pytest.fixture(scope="module")
def th(stack: Stack, shared: Client) -> Iterator[Taskhook]:
    with Taskhook(stack.url, shared.key) as client:
        yield client


def cli_env(stack: Stack, key: str | None) -> dict[str, str]:
    env = clean_env(stack.state_dir, TASKHOOK_URL=stack.url, TASKHOOK_API_KEY=key or "",
                    TASKHOOK_CONFIG=str(stack.state_dir / "no-config.toml"))
    env["PATH"] = os.environ.get("PATH", "")
    for name in ("COLUMNS", "LINES"):  # pytest-xdist's workers export 80x24; a shell's pipe has neither
        env.pop(name, None)
    return env


def taskhook(stack: Stack, key: str | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COMMAND), *args], cwd=ROOT, env=cli_env(stack, key), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def in_terminal(stack: Stack, key: str | None, *args: str, timeout: float = 60) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as its standard input, output and error: (exit code, screen)."""
    main, side = pty.openpty()
    env = {**cli_env(stack, key), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([str(COMMAND), *args], cwd=ROOT, env=env, stdin=side, stdout=side, stderr=side,
                               start_new_session=True)
    os.close(side)
    screen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # EIO: the command closed its end
                    break
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return code, screen.decode("utf-8", "replace")


# ---- the Python client ----------------------------------------------------------------------


def test_create_get_list_wait_cancel_and_retry(th: Taskhook, target: TargetServer) -> None:
    done = th.tasks.create(target.url("/client/ok"), method="GET", priority=8, headers={"X-From": "client"})
    # the create answers the row as read after it (idempotency): the lane may have claimed it already
    assert done["status"] in ("pending", "processing", "completed") and done["priority"] == 8
    finished = th.tasks.wait(done["id"], timeout=30)
    assert finished["status"] == "completed" and finished["result"]["statusCode"] == 200
    assert th.tasks.get(done["id"]) == finished
    assert target.calls("/client/ok")[-1].headers["X-From"] == "client"

    later = th.tasks.create(target.url("/client/later"), delay="1h")
    assert later["status"] == "delayed"
    assert th.tasks.cancel(later["id"])["status"] == "cancelled"
    with pytest.raises(WaitTimeout):
        th.tasks.wait(th.tasks.create(target.url("/client/later2"), delay="1h")["id"], timeout=1)

    broken = th.tasks.create(target.url("/client/broken", [500]), max_retries=0)
    failed = th.tasks.wait(broken["id"], timeout=30)
    assert failed["status"] == "failed"
    again = th.tasks.retry(broken["id"])
    assert again["retryOf"] == broken["id"] and again["id"] != broken["id"]

    listed = [t["id"] for t in th.tasks.list(page_size=2)]  # every page, 2 at a time
    assert {done["id"], later["id"], broken["id"], again["id"]} <= set(listed)
    assert len(listed) == len(set(listed))
    cancelled = list(th.tasks.list(status="cancelled", page_size=1))  # one task a page
    assert later["id"] in [t["id"] for t in cancelled] and {t["status"] for t in cancelled} == {"cancelled"}


def test_run_watch_stream_and_download(th: Taskhook, target: TargetServer, tmp_path: Path) -> None:
    streamed: list[dict[str, Any]] = []
    listening = threading.Event()
    started: list[str] = []

    def tail() -> None:  # the team's live feed, in the background
        for event in th.tasks.stream(timeout=60):
            streamed.append(event)
            listening.set()
            if started and event["task_id"] == started[0] and event["status"] == "completed":
                return

    feed = threading.Thread(target=tail, daemon=True)
    feed.start()
    deadline = time.monotonic() + 30
    while not listening.wait(1):  # a task of the team's, until the feed shows one: it is connected
        assert time.monotonic() < deadline, "the live feed showed nothing"
        th.tasks.create(target.url("/client/ping"))
    run = th.run(EXAMPLE, name="Matt", age=25)
    started.append(run.id)
    events = list(run.watch(timeout=60))
    assert events[-1]["status"] == "completed" and events[-1]["result"] == "Completed task for Matt, age 25"
    progress = [e["progress"] for e in events if e.get("progress") is not None]
    assert progress == sorted(progress) and progress[-1] == 100 and any(0 < p < 100 for p in progress)
    assert run.result(timeout=5) == "Completed task for Matt, age 25"
    feed.join(timeout=30)
    mine = [e for e in streamed if e["task_id"] == run.id]
    assert mine and mine[-1]["status"] == "completed" and len(mine) >= 3, streamed[-3:]

    text = "naïve café ✓\n" * 40
    written = th.run("testing.writes_output", text=text, filename="notes.txt")
    assert written.wait(timeout=30)["status"] == "completed"
    seen: list[tuple[int, int | None]] = []
    path = written.download(tmp_path, on_progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "notes.txt" and path.read_text(encoding="utf-8") == text
    assert seen[-1][0] == len(text.encode())


def test_verify_webhook_on_a_real_signed_delivery(th: Taskhook, target: TargetServer) -> None:
    hook = target.url("/client/hook", [204])
    task = th.tasks.create(target.url("/client/notified"), on_complete_url=hook)
    calls = target.wait_for_calls("/client/hook", 1, timeout=30)
    assert calls, "no notification arrived"
    secret = th.webhooks.secrets()[0]["secret"]
    event = verify_webhook(secret, calls[0].headers, calls[0].body)
    assert event["task"]["id"] == task["id"] and event["task"]["status"] == "completed"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, calls[0].headers, calls[0].body.replace(b"completed", b"failed"))


def test_the_asyncio_twin(stack: Stack, shared: Client, target: TargetServer) -> None:
    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[str], list[dict[str, Any]]]:
        async with AsyncTaskhook(stack.url, shared.key) as client:
            task = await client.tasks.create(target.url("/client/async"), max_retries=1)
            events = [event async for event in client.tasks.watch(task["id"], timeout=30)]
            listed = [t["id"] async for t in client.tasks.list(status="completed", page_size=5)]
            return await client.tasks.wait(task["id"], timeout=5), events, listed, await client.webhooks.secrets()

    done, events, listed, secrets = asyncio.run(scenario())
    assert done["status"] == "completed" and events[-1]["status"] == "completed"
    assert done["id"] in listed and secrets[0]["secret"].startswith("whsec_")


class DropsFirstAnswer(httpx.HTTPTransport):
    """The first create reaches the API and is handled; its answer is lost on the way back."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path == "/v1/tasks":
            self.keys.append(request.headers["Idempotency-Key"])
            if not self.dropped:
                response.read()
                assert response.status_code == 201, response.text
                self.dropped += 1
                raise httpx.ReadError("connection reset before the answer arrived")
        return response


def test_a_create_whose_answer_was_lost_is_retried_into_one_task(stack: Stack, team: Client,
                                                                  target: TargetServer) -> None:
    transport = DropsFirstAnswer()
    with Taskhook(stack.url, team.key, transport=transport) as client:
        task = client.tasks.create(target.url("/client/once"), delay="1h")
    assert transport.dropped == 1 and len(transport.keys) == 2 and len(set(transport.keys)) == 1
    assert team.total() == 1
    assert team.task(task["id"])["status"] == "delayed"


# ---- the command ----------------------------------------------------------------------------


def test_run_in_a_terminal_shows_a_progress_bar_reaching_100(stack: Stack, shared: Client) -> None:
    code, screen = in_terminal(stack, shared.key, "run", EXAMPLE, "--arg", "name=Matt", "--arg", "age=25", "--wait")
    assert code == 0, screen[-3000:]
    assert "100%" in screen and any(f"{p}%" in screen for p in range(10, 100, 10)), screen[-3000:]
    assert "Completed task for Matt, age 25" in screen
    assert "\x1b[" in screen  # colours: a terminal
    assert shared.key not in screen


def test_exit_codes_and_json(stack: Stack, shared: Client, target: TargetServer) -> None:
    key = shared.key
    made = {
        "completed": shared.create_ok({"targetUrl": target.url("/client/cli-ok")}),
        "failed": shared.create_ok({"targetUrl": f"http://127.0.0.1:{free_port()}/", "maxRetries": 0}),
        "timeout": shared.create_ok({"targetUrl": target.url("/client/cli-never", [503]), "maxWaitTime": 2,
                                     "maxRetries": 10}),
    }
    watching = {status: subprocess.Popen([str(COMMAND), "tasks", "watch", task["id"], "--json", "--timeout", "60"],
                                         cwd=ROOT, env=cli_env(stack, key), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                for status, task in made.items()}
    for status, process in watching.items():
        out, err = process.communicate(timeout=90)
        events = [json.loads(line) for line in out.splitlines()]  # --json: one event per line
        assert events[-1]["status"] == status, (status, out, err)
        assert process.returncode == {"completed": 0, "failed": 3, "timeout": 4}[status], (status, err)

    got = taskhook(stack, key, "--json", "tasks", "get", made["failed"]["id"])
    assert got.returncode == 0 and json.loads(got.stdout)["task"]["status"] == "failed"
    waited = taskhook(stack, key, "tasks", "wait", made["timeout"]["id"], "--json")
    assert waited.returncode == 4 and json.loads(waited.stdout)["task"]["status"] == "timeout"
    created = taskhook(stack, key, "tasks", "create", "--url", target.url("/client/cli-later"), "--delay", "1h",
                       "--priority", "9", "--json")
    task = json.loads(created.stdout)["task"]
    assert (task["status"], task["priority"]) == ("delayed", 9)
    still = taskhook(stack, key, "tasks", "watch", task["id"], "--timeout", "1", "--json")
    assert still.returncode == 124, still.stderr
    cancelled = taskhook(stack, key, "tasks", "cancel", task["id"], "--json")
    assert json.loads(cancelled.stdout)["task"]["status"] == "cancelled"
    listed = json.loads(taskhook(stack, key, "tasks", "list", "--status", "cancelled", "--all", "--json").stdout)
    assert task["id"] in [t["id"] for t in listed["tasks"]]
    polls = shared.create_ok({"targetUrl": target.url("/client/cli-provider"), "provider": "replicate",
                              "delayUntil": FAR_FUTURE})
    providers = json.loads(taskhook(stack, key, "tasks", "list", "--kind", "provider", "--all", "--json").stdout)
    assert polls["id"] in [t["id"] for t in providers["tasks"]]
    assert {t.get("kind") for t in providers["tasks"]} == {"http"}  # a provider task is an HTTP task that polls
    assert task["id"] not in [t["id"] for t in providers["tasks"]]  # an HTTP task that does not
    human = taskhook(stack, key, "tasks", "get", task["id"])
    assert human.returncode == 0 and "cancelled" in human.stdout and "\x1b[" not in human.stdout  # no colour in a pipe

    missing = taskhook(stack, key, "tasks", "get", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "404: Task not found" in missing.stderr
    refused = taskhook(stack, "th_not_a_key", "tasks", "list")
    assert refused.returncode == 1 and "401" in refused.stderr and "th_not_a_key" not in refused.stderr + refused.stdout
    secrets = json.loads(taskhook(stack, key, "webhook-secret", "show", "--json").stdout)
    assert secrets["secrets"][0]["secret"].startswith("whsec_")


def test_piped_output_keeps_each_value_on_its_line_and_limits_is_a_table(stack: Stack, team: Client,
                                                                         target: TargetServer) -> None:
    """In a pipe (no terminal) rich laid everything out for 80 columns: a secret, an id or a URL
    was cut over several lines, a copy-paste hazard (newcomer review). And `limits` printed JSON
    without --json, where every other command prints a table."""
    admin = stack.create_key(team.team, name="cli-admin", scope="admin")["apiKey"]
    secret = json.loads(taskhook(stack, admin, "webhook-secret", "show", "--json").stdout)["secrets"][0]["secret"]
    shown = taskhook(stack, admin, "webhook-secret", "show")
    assert shown.returncode == 0, shown.stderr
    assert any(secret in line for line in shown.stdout.splitlines()), shown.stdout
    rotated = json.loads(taskhook(stack, admin, "webhook-secret", "rotate", "--json").stdout)["secrets"]
    assert [s["secret"] for s in rotated][1:] == [secret]  # the previous one stays valid for 24 h
    alone = json.loads(taskhook(stack, admin, "webhook-secret", "rotate", "--expire-previous", "--json").stdout)
    assert len(alone["secrets"]) == 1 and alone["secrets"][0]["secret"] not in (secret, rotated[0]["secret"])

    long_url = target.url("/client/" + "a-rather-long-path-segment/" * 4 + "end")
    made = team.create_ok({"targetUrl": long_url, "delayUntil": FAR_FUTURE})
    listed = taskhook(stack, admin, "tasks", "list", "--limit", "5")
    line = next(line for line in listed.stdout.splitlines() if made["id"] in line)
    assert long_url in line and "created" in listed.stdout, listed.stdout

    got = taskhook(stack, admin, "tasks", "get", made["id"])
    assert long_url in got.stdout
    for output in (shown, listed, got):  # nothing padded to the widest line (a long result padded every row)
        assert all(line == line.rstrip() for line in output.stdout.splitlines()), output.stdout

    limits = taskhook(stack, admin, "limits")
    assert limits.returncode == 0, limits.stderr
    assert not limits.stdout.lstrip().startswith("{"), limits.stdout
    rows = {line.split()[0]: line.split()[1:] for line in limits.stdout.splitlines() if line.strip()}
    assert rows["team"] == [team.team] and rows["retentionDays"] and rows["rps"] == ["none"], limits.stdout
    as_json = json.loads(taskhook(stack, admin, "limits", "--json").stdout)
    assert as_json["team"] == team.team and "retentionDays" in as_json["limits"]


def test_the_vault_from_the_client_binds_a_token_to_its_hosts(stack: Stack, team: Client) -> None:
    admin = stack.create_key(team.team, name="cli-vault", scope="admin")["apiKey"]
    env = cli_env(stack, admin)

    def run(*args: str, value: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(COMMAND), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                              input=value)

    made = run("vault", "create", "partner", "--host", "API.Example.com", "--host", "127.0.0.1", "--json",
               value="sk_client_secret_0123456789\n")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    assert token["hosts"] == ["api.example.com", "127.0.0.1"] and "sk_client_secret" not in made.stdout
    listed = run("vault", "list")
    row = next(line for line in listed.stdout.splitlines() if token["id"] in line)
    assert "api.example.com, 127.0.0.1" in row, listed.stdout
    as_json = json.loads(run("vault", "list", "--json").stdout)["tokens"]
    assert next(t for t in as_json if t["id"] == token["id"])["hosts"] == ["api.example.com", "127.0.0.1"]
    neither = run("vault", "bind", token["id"])  # unbinding takes a flag of its own, never a forgotten --host
    assert neither.returncode == 2 and "--any-host" in neither.stderr, neither.stderr
    bound = json.loads(run("vault", "bind", token["id"], "--host", "api.fal.run", "--json").stdout)["token"]
    assert bound["hosts"] == ["api.fal.run"]
    unbound = json.loads(run("vault", "bind", token["id"], "--any-host", "--json").stdout)["token"]
    assert unbound["hosts"] is None
    with Taskhook(stack.url, admin) as client, pytest.raises(BadRequest) as refused:
        client.vault.create("empty-hosts", "sk_client_secret_0123456789", hosts=[])  # never silently unbound
    assert refused.value.message.startswith("hosts must be a list")
    gone = run("vault", "delete", token["id"])
    assert gone.returncode == 0 and f"Deleted {token['id']}" in gone.stderr, gone.stderr
    assert team.request("GET", f"/v1/tokens/{token['id']}").status_code == 404
