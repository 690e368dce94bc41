"""`Taskhook`: the synchronous client (httpx for HTTP, `websockets` for the live feed).

    from taskhook_client import Taskhook

    th = Taskhook("http://127.0.0.1:8000", "th_…")   # or Taskhook(): TASKHOOK_URL / TASKHOOK_API_KEY
    task = th.tasks.create(target_url="https://example.com/hook", priority=8, delay="5m")
    done = th.tasks.wait(task["id"], timeout=120)
    run = th.run("example_task2.task2_with_args", name="Matt", age=25)
    for event in run.watch():
        print(event["status"], event["progress"])

Tasks and events are the API's JSON objects (`dict`), field names as the API documents them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from . import live
from .calls import MAX_LONG_POLL, TERMINAL, Call, answer, as_event, long_poll, new_idempotency_key
from .errors import ApiError, TaskFailed, TransportError, WaitTimeout, api_error
from .fields import create_body
from .outputs import CHUNK, destination, output_link, partial
from .retries import RetryPolicy, parse_retry_after, retryable_failure, retryable_status
from .settings import resolve
from .version import USER_AGENT

Task = dict[str, Any]
Event = dict[str, Any]
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)
DEFAULT_TIMEOUT = 30.0


def http_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class Taskhook:
    """The Taskhook API at `base_url` with `api_key` (each defaults as `settings.resolve` says:
    a `profile`, then TASKHOOK_URL / TASKHOOK_API_KEY, then the config file's default profile).

    `timeout`: seconds for any one request (never unlimited; a long poll gets its wait on top).
    `retry`: how 429, 5xx and dropped connections are retried. `transport`: an httpx transport
    (tests pass `httpx.MockTransport`)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, profile: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        settings = resolve(base_url, api_key, profile)
        self.base_url = settings.url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = http_timeout(timeout)
        self._http = httpx.Client(base_url=self.base_url, timeout=self._timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {settings.api_key}", "User-Agent": USER_AGENT})
        # Presigned download links carry their own credential: the API key never goes to them.
        self._files = httpx.Client(timeout=self._timeout, transport=transport, follow_redirects=True,
                                   headers={"User-Agent": USER_AGENT})
        self.tasks = Tasks(self)
        self.functions = Functions(self)
        self.keys = Keys(self)
        self.client_tokens = ClientTokens(self)
        self.webhooks = WebhookSecrets(self)
        self.vault = Vault(self)

    def __repr__(self) -> str:
        return f"Taskhook({self.base_url!r})"

    def __enter__(self) -> Taskhook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._files.close()

    def request(self, call: Call) -> Any:
        """Send `call`, retrying what may be retried (retries.py); its JSON answer, or ApiError."""
        retry = 0
        while True:
            try:
                response = self._http.request(call.method, call.path, params=call.params, json=call.json,
                                              headers=call.headers, timeout=call.timeout(self._timeout))
            except httpx.TransportError as exc:
                retry += 1
                wait = self.retry.delay(retry, None) if retryable_failure(exc, call.repeatable) else None
                if wait is None:
                    raise TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}") from exc
                self._sleep(wait)
                continue
            if not response.is_success:
                retry += 1
                hint = parse_retry_after(response.headers.get("Retry-After"))
                message = response.text[:500] if response.status_code == 409 else ""
                if retryable_status(response.status_code, call.repeatable, message):
                    wait = self.retry.delay(retry, hint)
                    if wait is not None:
                        response.close()
                        self._sleep(wait)
                        continue
            return answer(response)

    # ---- shortcuts -----------------------------------------------------------------------

    def run(self, task_name: str, /, **arguments: Any) -> Run:
        """Start the function task `task_name` ("namespace.name") with these arguments."""
        return self.functions.start(task_name, arguments)

    def limits(self) -> dict[str, Any]:
        """The team's plan in force (admin key)."""
        result: dict[str, Any] = self.request(Call("GET", "/v1/limits"))
        return result

    def live_ticket(self) -> dict[str, Any]:
        """A single-use WebSocket ticket: {"ticket", "expiresIn", "websocketUrl"}."""
        result: dict[str, Any] = self.request(Call("POST", "/v1/live/tickets"))
        return result

    def download_file(self, url: str, path: str | os.PathLike[str], on_progress: Progress | None = None,
                      size: int | None = None) -> Path:
        target = Path(path)
        part = partial(target)
        try:
            with self._files.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    raise api_error(response.status_code, response.reason_phrase or "download refused")
                total = size if size is not None else _length(response)
                done = 0
                with open(part, "wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if on_progress:
                            on_progress(done, total)
            os.replace(part, target)
        except httpx.TransportError as exc:
            raise TransportError(f"download: {type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
        return target

    def events(self, task_id: str | None, timeout: float | None, heartbeat: float) -> Iterator[Event]:
        """The live feed: a task's events until it ends (`task_id`), or the team's (None), until
        `timeout` seconds pass. Reconnects with a new ticket when the connection drops; while it is
        quiet, a task is read over HTTP every `heartbeat` seconds, so an event missed is not lost."""
        deadline = None if timeout is None else time.monotonic() + timeout
        follow = live.Follow(task_id)
        failures = 0
        while True:
            url = live.websocket_url(self.live_ticket(), task_id)
            try:
                with connect(url, open_timeout=live.OPEN_TIMEOUT, close_timeout=live.CLOSE_TIMEOUT,
                             user_agent_header=USER_AGENT) as socket:
                    failures = 0
                    if task_id is not None:  # subscribed first: nothing after this read is missed
                        current = as_event(self.tasks.get(task_id))
                        if (fresh := follow.new(current)) is not None:
                            yield fresh
                        if live.ended(current):
                            return
                    while True:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            if task_id is not None:
                                raise WaitTimeout(self.tasks.get(task_id), timeout or 0)
                            return
                        try:
                            raw = socket.recv(timeout=heartbeat if remaining is None else min(heartbeat, remaining))
                        except TimeoutError:
                            if task_id is None:
                                continue
                            parsed: Event | None = as_event(self.tasks.get(task_id))
                        else:
                            parsed = live.parse(raw)
                        if (event := follow.new(parsed)) is None:
                            continue
                        yield event
                        if follow.over(event):
                            return
            except InvalidStatus as exc:
                raise api_error(*live.refusal(exc.response)) from None
            except (WebSocketException, OSError) as exc:
                failures += 1
                if failures > live.RECONNECTS:
                    raise TransportError(f"live feed: {type(exc).__name__}: {exc}") from exc
                self._sleep(self.retry.backoff(failures))


def _length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


class Tasks:
    """HTTP tasks (seed 002's v1 routes); `get`, `wait`, `watch` and `download` take any task."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def create(self, target_url: str, *, method: str | None = None, headers: dict[str, str] | None = None,
               body: Any = None, max_wait_time: float | None = None, timeout: float | None = None,
               delay_until: str | datetime | None = None, delay: str | float | timedelta | None = None,
               max_retries: int | None = None, retry_backoff: str | None = None, priority: int | None = None,
               on_complete_url: str | None = None, provider: str | None = None,
               poll_config: dict[str, Any] | None = None, wait_for_callback: bool | None = None,
               idempotency_key: str | None = None) -> Task:
        """`POST /v1/tasks`. Every argument is the seed's field of that name in snake_case (None:
        the API's default); `delay` ("5m", seconds) sets `delayUntil` from now. An Idempotency-Key
        is made for the call when none is given, and every retry sends the same one: a create
        retried after a lost answer returns the task the first attempt made, never a second."""
        fields = {"target_url": target_url, "method": method, "headers": headers, "body": body,
                  "max_wait_time": max_wait_time, "timeout": timeout, "delay_until": delay_until,
                  "max_retries": max_retries, "retry_backoff": retry_backoff, "priority": priority,
                  "on_complete_url": on_complete_url, "provider": provider, "poll_config": poll_config,
                  "wait_for_callback": wait_for_callback}
        key = idempotency_key or new_idempotency_key()
        answer_: dict[str, Any] = self._client.request(
            Call("POST", "/v1/tasks", json=create_body(fields, delay), headers={"Idempotency-Key": key}))
        task: Task = answer_["task"]
        return task

    def get(self, task_id: str, wait: float | None = None) -> Task:
        """`GET /v1/tasks/{id}`; `wait` (at most 25): long poll, answered when the status changes."""
        return _task(self._client.request(long_poll(task_id, wait or 0)))

    def list(self, *, status: str | None = None, sort_order: str | None = None, kind: str | None = None,
             namespace: str | None = None, name: str | None = None, page_size: int = 100) -> Iterator[Task]:
        """Every task of the team (newest first unless `sort_order="asc"`), page after page through
        `pagination.nextCursor`."""
        params = {k: v for k, v in {"status": status, "sortOrder": sort_order, "kind": kind,
                                    "namespace": namespace, "name": name, "limit": page_size}.items()
                  if v is not None}
        while True:
            page = self._client.request(Call("GET", "/v1/tasks", params=params))
            yield from page["tasks"]
            cursor = page.get("pagination", {}).get("nextCursor")
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    def cancel(self, task_id: str) -> Task:
        return _task(self._client.request(Call("POST", f"/v1/tasks/{task_id}/cancel")))

    def retry(self, task_id: str, idempotency_key: str | None = None) -> Task:
        """A failed or timed-out task again: the new task (`retryOf` names this one); as safe to
        retry as create."""
        key = idempotency_key or new_idempotency_key()
        return _task(self._client.request(Call("POST", f"/v1/tasks/{task_id}/retry",
                                               headers={"Idempotency-Key": key})))

    def wait(self, task_id: str, timeout: float = 300.0) -> Task:
        """The task once it has ended (completed, failed, timeout, cancelled), by long polls of at
        most 25 s; WaitTimeout (with its last state) when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            task = self.get(task_id, wait=max(0.0, min(MAX_LONG_POLL, remaining)))
            if task.get("status") in TERMINAL:
                return task
            if deadline - time.monotonic() <= 0:
                raise WaitTimeout(task, timeout)

    def watch(self, task_id: str, timeout: float | None = None, heartbeat: float = live.HEARTBEAT) -> Iterator[Event]:
        """The task's status and progress events over the WebSocket, from its current state until
        it ends; WaitTimeout when `timeout` passes first."""
        return self._client.events(task_id, timeout, heartbeat)

    def stream(self, timeout: float | None = None) -> Iterator[Event]:
        """Every event of every task of the team, as it happens (until `timeout`, else forever).
        A live feed: an event that happens while the connection is re-made is not replayed (read
        the task, or `list`, for what is stored)."""
        return self._client.events(None, timeout, live.HEARTBEAT)

    def download(self, task_id: str, path: str | os.PathLike[str], on_progress: Progress | None = None,
                 output: int | None = None) -> Path:
        """The task's output file (a function task's; `output=i`: a provider task's i-th) written
        to `path` (a directory: under the output's file name); the path written."""
        link = output_link(self.get(task_id), output)
        return self._client.download_file(link.url, destination(path, link), on_progress, link.size)


def _task(answer_: Any) -> Task:
    task: Task = answer_["task"]
    return task


@dataclass(frozen=True)
class Run:
    """A started function task."""

    id: str
    client: Taskhook

    def get(self) -> Task:
        return self.client.tasks.get(self.id)

    def wait(self, timeout: float = 300.0) -> Task:
        return self.client.tasks.wait(self.id, timeout)

    def watch(self, timeout: float | None = None) -> Iterator[Event]:
        return self.client.tasks.watch(self.id, timeout)

    def result(self, timeout: float = 300.0) -> Any:
        """The function's return value; TaskFailed when it did not complete."""
        task = self.wait(timeout)
        if task.get("status") != "completed":
            raise TaskFailed(task)
        return task.get("result")

    def download(self, path: str | os.PathLike[str], on_progress: Progress | None = None) -> Path:
        return self.client.tasks.download(self.id, path, on_progress)

    def cancel(self) -> Task:
        return self.client.tasks.cancel(self.id)


class Functions:
    """Function tasks (seeds 000 and 003)."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        """The catalogue: every registered function, its display name and argument schema."""
        functions: list[dict[str, Any]] = self._client.request(Call("GET", "/v1/functions"))["functions"]
        return functions

    def start(self, task_name: str, arguments: dict[str, Any] | None = None, callback_url: str | None = None) -> Run:
        """`POST /tasks/create`: `task_name` is "namespace.name". Sent with an Idempotency-Key made
        for the call, so a start retried after a 5xx or a lost answer makes one task."""
        body: dict[str, Any] = {"task_name": task_name, "task_data": arguments or {}}
        if callback_url is not None:
            body["callback_url"] = callback_url
        started = self._client.request(Call("POST", "/tasks/create", json=body,
                                            headers={"Idempotency-Key": new_idempotency_key()}))
        return Run(str(started["task_id"]), self._client)


class Keys:
    """The team's API keys (an admin-scoped key)."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = self._client.request(Call("GET", "/v1/keys"))["keys"]
        return keys

    def create(self, name: str | None = None, scope: str | None = None) -> dict[str, Any]:
        """{"key": {…}, "apiKey": "th_…"}: the secret is shown this once."""
        body = {k: v for k, v in {"name": name, "scope": scope}.items() if v is not None}
        created: dict[str, Any] = self._client.request(Call("POST", "/v1/keys", json=body))
        return created

    def revoke(self, key_id: str) -> dict[str, Any]:
        key: dict[str, Any] = self._client.request(Call("DELETE", f"/v1/keys/{key_id}"))["key"]
        return key


class ClientTokens:
    """The team's client tokens (seed 003's CLIENT_TOKEN; an admin-scoped key)."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self._client.request(Call("GET", "/v1/client-tokens"))["clientTokens"]
        return tokens

    def create(self, client: str) -> dict[str, Any]:
        """{"clientToken": {…}, "token": "ct_…"}: the secret is shown this once."""
        created: dict[str, Any] = self._client.request(Call("POST", "/v1/client-tokens", json={"client": client}))
        return created

    def revoke(self, token_id: str) -> dict[str, Any]:
        token: dict[str, Any] = self._client.request(Call("DELETE", f"/v1/client-tokens/{token_id}"))["clientToken"]
        return token


class WebhookSecrets:
    """The team's webhook signing secrets (an admin-scoped key)."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def secrets(self) -> list[dict[str, Any]]:
        """[{"secret": "whsec_…", "createdAt", "expiresAt"?}]: every secret in force."""
        found: list[dict[str, Any]] = self._client.request(Call("GET", "/v1/webhooks/secret"))["secrets"]
        return found

    def rotate(self, expire_previous: bool = False) -> list[dict[str, Any]]:
        """A new signing secret; the previous ones stay valid for 24 h, or end now with `expire_previous`."""
        body = {"expirePrevious": True} if expire_previous else None
        rotated: list[dict[str, Any]] = self._client.request(
            Call("POST", "/v1/webhooks/secret/rotate", json=body))["secrets"]
        return rotated


class Vault:
    """The Token Vault (`tok_` references; an admin-scoped key). A value goes in and never comes out."""

    def __init__(self, client: Taskhook) -> None:
        self._client = client

    def list(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self._client.request(Call("GET", "/v1/tokens"))["tokens"]
        return tokens

    def get(self, token_id: str) -> dict[str, Any]:
        return _token(self._client.request(Call("GET", f"/v1/tokens/{token_id}")))

    def create(self, name: str, value: str, hosts: Sequence[str] | None = None) -> dict[str, Any]:
        """Store `value` under `name`; `hosts`: the only hosts it may be sent to (None: any)."""
        body: dict[str, Any] = {"name": name, "value": value, **({"hosts": list(hosts)} if hosts is not None else {})}
        return _token(self._client.request(Call("POST", "/v1/tokens", json=body)))

    def rotate(self, token_id: str, value: str) -> dict[str, Any]:
        return _token(self._client.request(Call("PUT", f"/v1/tokens/{token_id}", json={"value": value})))

    def bind(self, token_id: str, hosts: Sequence[str] | None) -> dict[str, Any]:
        """The only hosts the token may be sent to from now on (None: any host)."""
        body = {"hosts": None if hosts is None else list(hosts)}
        return _token(self._client.request(Call("PUT", f"/v1/tokens/{token_id}", json=body)))

    def delete(self, token_id: str) -> dict[str, Any]:
        return _token(self._client.request(Call("DELETE", f"/v1/tokens/{token_id}")))


def _token(answer_: Any) -> dict[str, Any]:
    token: dict[str, Any] = answer_["token"]
    return token


__all__ = ["ApiError", "ClientTokens", "Event", "Functions", "Keys", "Run", "Task", "Taskhook", "Tasks", "Vault",
           "WebhookSecrets"]
