"""The Python client (clients/python, `taskhook_client`) against scripted HTTP answers
(httpx.MockTransport): retries and their backoff, Retry-After, the automatic Idempotency-Key,
errors as exceptions, pagination, long polls, downloads, configuration, verify_webhook, and the
`taskhook` command's exit codes and --json."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import taskhook_client.cli as cli_module
from click.testing import CliRunner
from taskhook_client import (
    AsyncTaskhook,
    BadRequest,
    ConfigError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Taskhook,
    TransportError,
    WaitTimeout,
    WebhookVerificationError,
    verify_webhook,
)
from taskhook_client.fields import CREATE_FIELDS, create_body, parse_duration
from taskhook_client.retries import parse_retry_after
from taskhook_client.settings import resolve

from taskhook.intake.validation import CreateTaskRequest
from taskhook.notify.signing import new_secret, signature_headers

URL = "http://taskhook.test"
KEY = "th_unit_secret_key"
TASK = {"id": "t-1", "status": "pending", "targetUrl": "https://example.com/hook", "createdAt": "2026-01-01T00:00:00Z"}

Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers in order (the last one repeats); every request seen is kept."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer


def client(script: Script, sleeps: list[float] | None = None, **kwargs: Any) -> Taskhook:
    slept = sleeps if sleeps is not None else []
    return Taskhook(URL, KEY, transport=httpx.MockTransport(script), sleep=slept.append, **kwargs)


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# ---- retries, Retry-After and the Idempotency-Key ---------------------------------------------


def test_a_create_retried_after_5xx_sends_the_same_idempotency_key() -> None:
    script = Script(json_answer(503, {"error": "busy"}), httpx.ReadTimeout("lost"), json_answer(201, {"task": TASK}))
    sleeps: list[float] = []
    task = client(script, sleeps).tasks.create("https://example.com/hook", priority=8)
    assert task == TASK
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("thc-")
    assert [json.loads(r.content) for r in script.requests] == [{"targetUrl": "https://example.com/hook",
                                                                  "priority": 8}] * 3
    assert len(sleeps) == 2 and all(0 < s <= 20 for s in sleeps)
    assert script.requests[0].headers["Authorization"] == f"Bearer {KEY}"


def test_each_create_call_makes_its_own_key_unless_given() -> None:
    script = Script(json_answer(201, {"task": TASK}))
    th = client(script)
    th.tasks.create("https://example.com/a")
    th.tasks.create("https://example.com/b")
    th.tasks.create("https://example.com/c", idempotency_key="mine")
    keys = [r.headers["Idempotency-Key"] for r in script.requests]
    assert keys[0] != keys[1] and keys[2] == "mine"


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    sleeps: list[float] = []
    script = Script(json_answer(429, {"error": "Rate limit exceeded."}, {"Retry-After": "7"}),
                    json_answer(200, {"task": TASK}))
    assert client(script, sleeps).tasks.get("t-1") == TASK
    assert sleeps == [7.0]  # not the first backoff (about 0.5 s)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=12), usegmt=True), now) == 12.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("-3") == 0.0


def test_backoff_grows_and_stops_after_the_attempts() -> None:
    sleeps: list[float] = []
    script = Script(json_answer(502, {"error": "Bad gateway"}))
    with pytest.raises(ServerError) as raised:
        client(script, sleeps, retry=RetryPolicy(attempts=4, base=1, cap=100)).tasks.get("t-1")
    assert (raised.value.status, raised.value.message) == (502, "Bad gateway")
    assert len(script.requests) == 4 and len(sleeps) == 3
    for n, slept in enumerate(sleeps, 1):  # 1, 2, 4 s, jittered down to half at most
        assert 2 ** (n - 1) / 2 <= slept <= 2 ** (n - 1)


def test_a_retry_after_beyond_the_policy_is_raised_with_it() -> None:
    script = Script(json_answer(429, {"error": "Rate limit exceeded."}, {"Retry-After": "900"}))
    with pytest.raises(RateLimited) as raised:
        client(script).tasks.get("t-1")
    assert raised.value.retry_after == 900.0 and len(script.requests) == 1


def test_a_post_without_idempotency_key_is_not_repeated_after_a_5xx_or_a_lost_answer() -> None:
    for failure in (json_answer(500, {"error": "Internal server error"}), httpx.ReadTimeout("lost")):
        script = Script(failure, json_answer(201, {"key": "thk_x", "id": "k-1"}))
        with pytest.raises(ServerError if isinstance(failure, httpx.Response) else TransportError):
            client(script).keys.create("ci")
        assert len(script.requests) == 1  # the key may exist: never a second one
    # ...but a 429 or a connection never made did nothing, and is retried
    script = Script(json_answer(429, {"error": "Rate limit exceeded."}, {"Retry-After": "1"}),
                    httpx.ConnectError("refused"), json_answer(201, {"key": "thk_x", "id": "k-1"}))
    assert client(script).keys.create("ci")["id"] == "k-1" and len(script.requests) == 3


def test_a_function_start_is_retried_under_one_idempotency_key() -> None:
    """`run` sends an Idempotency-Key (the start routes take one), so a 5xx or a lost answer is
    retried with the same key: the server answers the repeat with the first start's task."""
    for failure in (json_answer(500, {"error": "Internal server error"}), httpx.ReadTimeout("lost")):
        script = Script(failure, json_answer(200, {"task_id": "f-1", "status": "pending"}))
        run = client(script).run("example_task2.task2_with_args", name="Matt", age=25)
        assert run.id == "f-1" and len(script.requests) == 2
        keys = {r.headers["Idempotency-Key"] for r in script.requests}
        assert len(keys) == 1 and keys != {""}
        assert json.loads(script.requests[-1].content) == {"task_name": "example_task2.task2_with_args",
                                                             "task_data": {"name": "Matt", "age": 25}}


def test_errors_carry_the_apis_message_and_status() -> None:
    with pytest.raises(NotFound) as missing:
        client(Script(json_answer(404, {"error": "Task not found"}))).tasks.get("nope")
    assert (missing.value.status, missing.value.message, str(missing.value)) == (404, "Task not found",
                                                                                  "404: Task not found")
    with pytest.raises(BadRequest) as bad:
        client(Script(json_answer(400, {"error": "priority must be an integer between 1 and 10"}))).tasks.create(
            "https://example.com", priority=11)
    assert bad.value.message == "priority must be an integer between 1 and 10"
    with pytest.raises(ServerError) as html:
        client(Script(httpx.Response(500, text="<html>oops</html>")), retry=RetryPolicy(attempts=1)).tasks.get("t")
    assert html.value.message == "Internal Server Error"


def test_every_request_has_a_timeout() -> None:
    seen: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return json_answer(200, {"task": {**TASK, "status": "completed"}})

    th = client(Script(record), timeout=12)
    th.tasks.get("t-1")
    th.tasks.get("t-1", wait=20)
    assert seen[0]["read"] == 12 and seen[0]["connect"] == 10
    assert seen[1]["read"] == 35  # a long poll: its wait and a margin
    assert all(value is not None for timeouts in seen for value in timeouts.values())


# ---- reading: pages, long polls, downloads ----------------------------------------------------


def test_list_walks_every_page_by_cursor() -> None:
    pages = {None: {"tasks": [{"id": "a"}, {"id": "b"}], "pagination": {"hasMore": True, "nextCursor": "c1"}},
             "c1": {"tasks": [{"id": "c"}], "pagination": {"hasMore": False}}}
    script = Script(lambda r: json_answer(200, pages[r.url.params.get("cursor")]))
    assert [t["id"] for t in client(script).tasks.list(status="completed", page_size=2)] == ["a", "b", "c"]
    assert dict(script.requests[1].url.params) == {"status": "completed", "limit": "2", "cursor": "c1"}


def test_wait_long_polls_until_the_task_ends() -> None:
    script = Script(json_answer(200, {"task": {**TASK, "status": "processing"}}),
                    json_answer(200, {"task": {**TASK, "status": "failed", "error": "HTTP 500"}}))
    assert client(script).tasks.wait("t-1", timeout=100)["status"] == "failed"
    assert all(0 < float(r.url.params["wait"]) <= 25 for r in script.requests)


def test_wait_raises_with_the_last_state_when_the_timeout_passes() -> None:
    script = Script(json_answer(200, {"task": {**TASK, "status": "processing"}}))
    with pytest.raises(WaitTimeout) as raised:
        client(script).tasks.wait("t-1", timeout=0)
    assert raised.value.task["status"] == "processing" and len(script.requests) == 1


def test_download_streams_the_output_without_the_api_key(tmp_path: Path) -> None:
    payload = b"x" * 200_000
    link = "http://files.test/presigned?X-Amz-Signature=abc"
    task = {**TASK, "status": "completed", "output": {"filename": "report.bin", "size": len(payload),
                                                      "downloadUrl": link}}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "files.test":
            assert "Authorization" not in request.headers  # the presigned URL is the credential
            return httpx.Response(200, content=payload)
        return json_answer(200, {"task": task})

    seen: list[tuple[int, int | None]] = []
    written = client(Script(answer)).tasks.download("t-1", tmp_path, on_progress=lambda d, t: seen.append((d, t)))
    assert written == tmp_path / "report.bin" and written.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload)) and len(seen) > 1
    assert not list(tmp_path.glob(".*.part"))


# ---- the request body, configuration ----------------------------------------------------------


def test_every_create_field_of_the_api_is_a_keyword_argument() -> None:
    assert set(CREATE_FIELDS.values()) == set(CreateTaskRequest.model_fields)
    from taskhook_client.aio import AsyncTasks
    from taskhook_client.client import Tasks
    for create in (Tasks.create, AsyncTasks.create):
        assert set(CREATE_FIELDS) <= set(inspect.signature(create).parameters), create
    now = datetime(2026, 1, 1, tzinfo=UTC)
    body = create_body({"target_url": "https://x", "body": {"a": 1}, "max_retries": 0, "headers": None}, "5m", now)
    assert body == {"targetUrl": "https://x", "body": '{"a": 1}', "maxRetries": 0,
                    "delayUntil": "2026-01-01T00:05:00.000Z"}
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration(90) == timedelta(seconds=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ValueError, match="not both"):
        create_body({"target_url": "https://x", "delay_until": "2026-01-01T00:00:00Z"}, "5m")


def test_settings_come_from_arguments_profile_environment_then_default(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nurl = "http://default"\napi_key = "th_default"\n'
                      '[prod]\nurl = "https://prod"\napi_key = "th_prod"\n')
    env = {"TASKHOOK_CONFIG": str(config), "TASKHOOK_URL": "http://env", "TASKHOOK_API_KEY": "th_env"}
    assert resolve(env=env).url == "http://env"
    assert resolve(profile="prod", env=env).url == "https://prod"
    assert resolve(url="http://arg/", profile="prod", env=env).url == "http://arg"
    assert resolve(env={"TASKHOOK_CONFIG": str(config)}).api_key == "th_default"
    assert "th_" not in repr(resolve(env=env))
    with pytest.raises(ConfigError, match="no profile 'staging'"):
        resolve(profile="staging", env=env)
    with pytest.raises(ConfigError, match="no API key"):
        resolve(env={"TASKHOOK_CONFIG": str(tmp_path / "none.toml"), "TASKHOOK_URL": "http://env"})


# ---- verify_webhook: the service's own signatures ---------------------------------------------


def test_verify_webhook_accepts_what_the_service_signs_and_nothing_else() -> None:
    secret, body = new_secret(), json.dumps({"task": {"id": "t-1", "status": "completed"}, "sequence": "1"})
    headers = signature_headers([secret], "msg_1", datetime.now(UTC), body)
    assert verify_webhook(secret, headers, body.encode()) == json.loads(body)
    rotating = signature_headers([new_secret(), secret], "msg_2", datetime.now(UTC), body)  # during a rotation
    assert verify_webhook(secret, rotating, body)["task"]["id"] == "t-1"
    for bad_secret, bad_headers, bad_body in (
        (new_secret(), headers, body),  # another team's secret
        (secret, headers, body.replace("completed", "failed")),  # a changed body
        (secret, {**headers, "webhook-id": "msg_other"}, body),  # a replayed signature on another message
        (secret, {k: v for k, v in headers.items() if k != "webhook-signature"}, body),
        (secret, {**headers, "webhook-signature": "garbage"}, body),
        (secret, signature_headers([secret], "msg_3", datetime.now(UTC) - timedelta(minutes=10), body), body),
        ("", headers, body),
    ):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(bad_secret, bad_headers, bad_body)


def test_the_signing_scheme_matches_the_standard_webhooks_vector() -> None:
    """The published Standard Webhooks test vector, signed by the service's code: the scheme
    verify_webhook checks is the standard's, not only the same library's."""
    headers = signature_headers(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                datetime.fromtimestamp(1614265330, UTC), '{"test": 2432232314}')
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# ---- the asyncio twin -------------------------------------------------------------------------


def test_the_async_client_retries_a_create_with_the_same_key() -> None:
    script = Script(json_answer(503, {"error": "busy"}), json_answer(201, {"task": TASK}))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> dict[str, Any]:
        async with AsyncTaskhook(URL, KEY, transport=httpx.MockTransport(script), sleep=sleep) as th:
            task = await th.tasks.create("https://example.com/hook", delay=30)
            with pytest.raises(NotFound):
                script.answers = [json_answer(404, {"error": "Task not found"})]
                await th.tasks.get("nope")
            return task

    assert asyncio.run(scenario()) == TASK
    first, second = script.requests[:2]
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] and len(slept) == 1
    assert "delayUntil" in json.loads(second.content)


# ---- the command: exit codes, --json, no key in its output -----------------------------------


@pytest.fixture
def command(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`taskhook …` with the client's HTTP answered by `script`."""

    def run(script: Script, *args: str) -> Any:
        def make(url: str | None, key: str | None, profile: str | None = None) -> Taskhook:
            return Taskhook(URL, KEY, transport=httpx.MockTransport(script), sleep=lambda s: None)
        monkeypatch.setattr(cli_module, "Taskhook", make)
        return CliRunner().invoke(cli_module.cli, list(args))

    return run


@pytest.mark.parametrize(("status", "code"), [("completed", 0), ("failed", 3), ("timeout", 4), ("cancelled", 5)])
def test_tasks_wait_exit_code_says_how_the_task_ended(command: Callable[..., Any], status: str, code: int) -> None:
    result = command(Script(json_answer(200, {"task": {**TASK, "status": status}})), "tasks", "wait", "t-1", "--json")
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["task"]["status"] == status


def test_a_task_still_running_at_the_timeout_exits_124(command: Callable[..., Any]) -> None:
    result = command(Script(json_answer(200, {"task": {**TASK, "status": "processing"}})),
                     "--json", "tasks", "wait", "t-1", "--timeout", "0")
    assert result.exit_code == 124 and json.loads(result.stdout)["task"]["status"] == "processing"


def test_an_api_error_is_one_line_without_the_key(command: Callable[..., Any]) -> None:
    result = command(Script(json_answer(401, {"error": "Invalid or revoked API key"})), "tasks", "get", "t-1")
    assert result.exit_code == 1
    assert "401: Invalid or revoked API key" in result.output and KEY not in result.output
    assert "Traceback" not in result.output


def test_create_options_become_the_apis_fields(command: Callable[..., Any], tmp_path: Path) -> None:
    script = Script(json_answer(201, {"task": TASK}))
    (tmp_path / "body.json").write_text('{"id": 123}')
    result = command(script, "tasks", "create", "--url", "https://example.com/hook", "--method", "put",
                     "--header", "X-Trace: abc", "--body", f"@{tmp_path / 'body.json'}", "--delay", "5m",
                     "--retries", "2", "--backoff", "linear", "--priority", "9", "--on-complete", "https://e.com/done",
                     "--json")
    assert result.exit_code == 0, result.output
    sent = json.loads(script.requests[0].content)
    assert sent.pop("delayUntil").endswith("Z")
    assert sent == {"targetUrl": "https://example.com/hook", "method": "PUT", "headers": {"X-Trace": "abc"},
                    "body": '{"id": 123}', "maxRetries": 2, "retryBackoff": "linear", "priority": 9,
                    "onCompleteUrl": "https://e.com/done"}
    assert json.loads(result.stdout) == {"task": TASK}
    bad = command(script, "tasks", "create", "--url", "https://x", "--delay", "soon")
    assert bad.exit_code == 2 and "not a duration" in bad.output


# ---- the package stays beside the service -----------------------------------------------------


def test_the_service_never_depends_on_its_client() -> None:
    """Nothing the Lambda functions ship imports the client, and the layer's pins do not list it."""
    root = Path(__file__).resolve().parents[2]
    shipped = [root / "app.py", *(root / "functions").rglob("*.py"), *(root / "src" / "taskhook").rglob("*.py")]
    importing = [str(p.relative_to(root)) for p in shipped if "taskhook_client" in p.read_text(encoding="utf-8")]
    assert importing == []
    assert "taskhook-client" not in (root / "requirements.txt").read_text()
    pins = (root / "requirements-dev.txt").read_text().splitlines()
    for name in ("httpx", "click", "rich", "websockets"):  # the client's own dependencies: exact pins
        assert any(line.startswith(f"{name}==") for line in pins), name


def test_the_asyncio_twin_has_every_method_of_the_sync_client() -> None:
    from taskhook_client import aio, client

    def public(kind: type) -> set[str]:
        return {name for name in vars(kind) if not name.startswith("_")}

    pairs = [(client.Taskhook, aio.AsyncTaskhook), (client.Tasks, aio.AsyncTasks), (client.Run, aio.AsyncRun),
             (client.Functions, aio.AsyncFunctions), (client.Keys, aio.AsyncKeys),
             (client.ClientTokens, aio.AsyncClientTokens), (client.WebhookSecrets, aio.AsyncWebhookSecrets),
             (client.Vault, aio.AsyncVault)]
    for sync, twin in pairs:
        assert public(sync) - {"close", "events", "download_file"} <= public(twin), (sync, public(sync) - public(twin))
    th, twin_client = Taskhook(URL, KEY), aio.AsyncTaskhook(URL, KEY)
    assert {n for n in vars(th) if not n.startswith("_")} == {n for n in vars(twin_client) if not n.startswith("_")}


def test_a_watch_never_goes_back_to_an_older_state_than_it_showed() -> None:
    """`watch` reads the task once subscribed, then yields the feed; the feed follows the table's
    stream, which can lag the read. An event older than the one shown (its `timestamp`, the row's
    updatedAt) is dropped: a client saw progress 40, then 10 (LocalStack CI, 2026-12-03)."""
    from taskhook_client.live import Follow

    def event(progress: int, at: str, status: str = "processing") -> dict[str, Any]:
        return {"task_id": "t1", "status": status, "progress": progress, "timestamp": f"2026-12-03T09:00:{at}Z"}

    follow = Follow("t1")
    read = event(40, "01.200")  # the read after subscribing
    feed = [event(10, "01.100"), event(40, "01.200"), event(60, "01.300"), event(60, "01.300"),
            event(70, "01.300"), {**event(100, "01.500"), "status": "completed"}]
    shown = [e["progress"] for e in [read, *feed] if follow.new(e) is not None]
    assert shown == [40, 60, 70, 100]  # same-moment writes both shown; an older one not

    follow = Follow("t1")
    assert follow.new({**event(10, "01.100"), "timestamp": None}) is not None  # no timestamp: shown
    assert follow.new(event(20, "01.000")) is not None  # after one without: shown


@pytest.mark.parametrize(("status", "body", "headers", "kind", "message", "retry_after"), [
    (429, b'{"error": "A team may hold at most 1000 live connections open: close one first"}\n', {}, "RateLimited",
     "A team may hold at most 1000 live connections open: close one first", None),
    (429, b'{"error": "Rate limit exceeded. Upgrade your plan for higher limits."}\n', {"Retry-After": "3"},
     "RateLimited", "Rate limit exceeded. Upgrade your plan for higher limits.", 3.0),
    (401, b'{"error": "Invalid or revoked API key"}\n', {}, "Unauthorized", "Invalid or revoked API key", None),
    (502, b"<html>bad gateway</html>", {}, "ServerError", "the live feed refused the connection", None),
])
def test_a_refused_live_connect_says_what_the_server_said(status: int, body: bytes, headers: dict[str, str],
                                                          kind: str, message: str, retry_after: float | None) -> None:
    """The server's `error` reaches the caller: a 429 for the team's connection cap is not the rate
    limit, and says so (before, every refusal read "the live feed refused the connection")."""
    from taskhook_client import errors, live
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    error = errors.api_error(*live.refusal(Response(status, "", Headers(headers), body)))
    assert type(error).__name__ == kind
    assert (error.status, error.message, error.retry_after) == (status, message, retry_after)
