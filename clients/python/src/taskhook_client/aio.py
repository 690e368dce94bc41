"""`AsyncTaskhook`: the asyncio twin of `Taskhook` (httpx's AsyncClient, `websockets`' asyncio
client): the same methods, awaited; `list`, `watch` and `stream` are async iterators.

    async with AsyncTaskhook() as th:
        task = await th.tasks.create(target_url="https://example.com/hook")
        async for event in th.tasks.watch(task["id"]):
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from . import live
from .calls import MAX_LONG_POLL, TERMINAL, Call, answer, as_event, long_poll, new_idempotency_key
from .client import DEFAULT_TIMEOUT, Event, Progress, Task, http_timeout
from .errors import TaskFailed, TransportError, WaitTimeout, api_error
from .fields import create_body
from .outputs import CHUNK, destination, output_link, partial
from .retries import RetryPolicy, parse_retry_after, retryable_failure, retryable_status
from .settings import resolve
from .version import USER_AGENT


class AsyncTaskhook:
    """See `Taskhook`; `sleep` is awaited between retries."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, profile: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        settings = resolve(base_url, api_key, profile)
        self.base_url = settings.url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._timeout = http_timeout(timeout)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout, transport=transport,
                                       headers={"Authorization": f"Bearer {settings.api_key}",
                                                "User-Agent": USER_AGENT})
        self._files = httpx.AsyncClient(timeout=self._timeout, transport=transport, follow_redirects=True,
                                        headers={"User-Agent": USER_AGENT})
        self.tasks = AsyncTasks(self)
        self.functions = AsyncFunctions(self)
        self.keys = AsyncKeys(self)
        self.client_tokens = AsyncClientTokens(self)
        self.webhooks = AsyncWebhookSecrets(self)
        self.vault = AsyncVault(self)

    def __repr__(self) -> str:
        return f"AsyncTaskhook({self.base_url!r})"

    async def __aenter__(self) -> AsyncTaskhook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._files.aclose()

    async def request(self, call: Call) -> Any:
        retry = 0
        while True:
            try:
                response = await self._http.request(call.method, call.path, params=call.params, json=call.json,
                                                    headers=call.headers, timeout=call.timeout(self._timeout))
            except httpx.TransportError as exc:
                retry += 1
                wait = self.retry.delay(retry, None) if retryable_failure(exc, call.repeatable) else None
                if wait is None:
                    raise TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}") from exc
                await self._sleep(wait)
                continue
            if not response.is_success:
                retry += 1
                hint = parse_retry_after(response.headers.get("Retry-After"))
                message = response.text[:500] if response.status_code == 409 else ""
                if retryable_status(response.status_code, call.repeatable, message):
                    wait = self.retry.delay(retry, hint)
                    if wait is not None:
                        await self._sleep(wait)
                        continue
            return answer(response)

    async def run(self, task_name: str, /, **arguments: Any) -> AsyncRun:
        return await self.functions.start(task_name, arguments)

    async def limits(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(Call("GET", "/v1/limits"))
        return result

    async def field(self, call: Call, name: str) -> Any:
        """One field of the JSON answer to `call`."""
        return (await self.request(call))[name]

    async def live_ticket(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(Call("POST", "/v1/live/tickets"))
        return result

    async def download_file(self, url: str, path: str | os.PathLike[str], on_progress: Progress | None = None,
                            size: int | None = None) -> Path:
        target = Path(path)
        part = partial(target)
        try:
            async with self._files.stream("GET", url) as response:
                if not response.is_success:
                    await response.aread()
                    raise api_error(response.status_code, response.reason_phrase or "download refused")
                length = response.headers.get("Content-Length")
                total = size if size is not None else (int(length) if length and length.isdigit() else None)
                done = 0
                with open(part, "wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK):
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

    async def events(self, task_id: str | None, timeout: float | None, heartbeat: float) -> AsyncIterator[Event]:
        """See `Taskhook.events`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        follow = live.Follow(task_id)
        failures = 0
        while True:
            url = live.websocket_url(await self.live_ticket(), task_id)
            try:
                async with connect(url, open_timeout=live.OPEN_TIMEOUT, close_timeout=live.CLOSE_TIMEOUT,
                                   user_agent_header=USER_AGENT) as socket:
                    failures = 0
                    if task_id is not None:
                        current = as_event(await self.tasks.get(task_id))
                        if (fresh := follow.new(current)) is not None:
                            yield fresh
                        if live.ended(current):
                            return
                    while True:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            if task_id is not None:
                                raise WaitTimeout(await self.tasks.get(task_id), timeout or 0)
                            return
                        try:
                            raw = await asyncio.wait_for(
                                socket.recv(), heartbeat if remaining is None else min(heartbeat, remaining))
                        except TimeoutError:
                            if task_id is None:
                                continue
                            parsed: Event | None = as_event(await self.tasks.get(task_id))
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
                await self._sleep(self.retry.backoff(failures))


class AsyncTasks:
    """See `Tasks`."""

    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def create(self, target_url: str, *, method: str | None = None, headers: dict[str, str] | None = None,
                     body: Any = None, max_wait_time: float | None = None, timeout: float | None = None,
                     delay_until: str | datetime | None = None, delay: str | float | timedelta | None = None,
                     max_retries: int | None = None, retry_backoff: str | None = None, priority: int | None = None,
                     on_complete_url: str | None = None, provider: str | None = None,
                     poll_config: dict[str, Any] | None = None, wait_for_callback: bool | None = None,
                     idempotency_key: str | None = None) -> Task:
        fields = {"target_url": target_url, "method": method, "headers": headers, "body": body,
                  "max_wait_time": max_wait_time, "timeout": timeout, "delay_until": delay_until,
                  "max_retries": max_retries, "retry_backoff": retry_backoff, "priority": priority,
                  "on_complete_url": on_complete_url, "provider": provider, "poll_config": poll_config,
                  "wait_for_callback": wait_for_callback}
        key = idempotency_key or new_idempotency_key()
        created = await self._client.request(
            Call("POST", "/v1/tasks", json=create_body(fields, delay), headers={"Idempotency-Key": key}))
        task: Task = created["task"]
        return task

    async def get(self, task_id: str, wait: float | None = None) -> Task:
        task: Task = (await self._client.request(long_poll(task_id, wait or 0)))["task"]
        return task

    async def list(self, *, status: str | None = None, sort_order: str | None = None, kind: str | None = None,
                   namespace: str | None = None, name: str | None = None, page_size: int = 100) -> AsyncIterator[Task]:
        params = {k: v for k, v in {"status": status, "sortOrder": sort_order, "kind": kind,
                                    "namespace": namespace, "name": name, "limit": page_size}.items()
                  if v is not None}
        while True:
            page = await self._client.request(Call("GET", "/v1/tasks", params=params))
            for task in page["tasks"]:
                yield task
            cursor = page.get("pagination", {}).get("nextCursor")
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    async def cancel(self, task_id: str) -> Task:
        task: Task = (await self._client.request(Call("POST", f"/v1/tasks/{task_id}/cancel")))["task"]
        return task

    async def retry(self, task_id: str, idempotency_key: str | None = None) -> Task:
        key = idempotency_key or new_idempotency_key()
        answer_ = await self._client.request(
            Call("POST", f"/v1/tasks/{task_id}/retry", headers={"Idempotency-Key": key}))
        task: Task = answer_["task"]
        return task

    async def wait(self, task_id: str, timeout: float = 300.0) -> Task:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            task = await self.get(task_id, wait=max(0.0, min(MAX_LONG_POLL, remaining)))
            if task.get("status") in TERMINAL:
                return task
            if deadline - time.monotonic() <= 0:
                raise WaitTimeout(task, timeout)

    def watch(self, task_id: str, timeout: float | None = None,
              heartbeat: float = live.HEARTBEAT) -> AsyncIterator[Event]:
        return self._client.events(task_id, timeout, heartbeat)

    def stream(self, timeout: float | None = None) -> AsyncIterator[Event]:
        return self._client.events(None, timeout, live.HEARTBEAT)

    async def download(self, task_id: str, path: str | os.PathLike[str], on_progress: Progress | None = None,
                       output: int | None = None) -> Path:
        link = output_link(await self.get(task_id), output)
        return await self._client.download_file(link.url, destination(path, link), on_progress, link.size)


@dataclass(frozen=True)
class AsyncRun:
    id: str
    client: AsyncTaskhook

    async def get(self) -> Task:
        return await self.client.tasks.get(self.id)

    async def wait(self, timeout: float = 300.0) -> Task:
        return await self.client.tasks.wait(self.id, timeout)

    def watch(self, timeout: float | None = None) -> AsyncIterator[Event]:
        return self.client.tasks.watch(self.id, timeout)

    async def result(self, timeout: float = 300.0) -> Any:
        task = await self.wait(timeout)
        if task.get("status") != "completed":
            raise TaskFailed(task)
        return task.get("result")

    async def download(self, path: str | os.PathLike[str], on_progress: Progress | None = None) -> Path:
        return await self.client.tasks.download(self.id, path, on_progress)

    async def cancel(self) -> Task:
        return await self.client.tasks.cancel(self.id)


class AsyncFunctions:
    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        functions: list[dict[str, Any]] = (await self._client.request(Call("GET", "/v1/functions")))["functions"]
        return functions

    async def start(self, task_name: str, arguments: dict[str, Any] | None = None,
                    callback_url: str | None = None) -> AsyncRun:
        body: dict[str, Any] = {"task_name": task_name, "task_data": arguments or {}}
        if callback_url is not None:
            body["callback_url"] = callback_url
        started = await self._client.request(Call("POST", "/tasks/create", json=body,
                                                  headers={"Idempotency-Key": new_idempotency_key()}))
        return AsyncRun(str(started["task_id"]), self._client)


class AsyncKeys:
    """See `Keys`."""

    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = await self._client.field(Call("GET", "/v1/keys"), "keys")
        return keys

    async def create(self, name: str | None = None, scope: str | None = None) -> dict[str, Any]:
        body = {k: v for k, v in {"name": name, "scope": scope}.items() if v is not None}
        created: dict[str, Any] = await self._client.request(Call("POST", "/v1/keys", json=body))
        return created

    async def revoke(self, key_id: str) -> dict[str, Any]:
        key: dict[str, Any] = await self._client.field(Call("DELETE", f"/v1/keys/{key_id}"), "key")
        return key


class AsyncClientTokens:
    """See `ClientTokens`."""

    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = await self._client.field(Call("GET", "/v1/client-tokens"), "clientTokens")
        return tokens

    async def create(self, client: str) -> dict[str, Any]:
        created: dict[str, Any] = await self._client.request(
            Call("POST", "/v1/client-tokens", json={"client": client}))
        return created

    async def revoke(self, token_id: str) -> dict[str, Any]:
        token: dict[str, Any] = await self._client.field(Call("DELETE", f"/v1/client-tokens/{token_id}"),
                                                         "clientToken")
        return token


class AsyncWebhookSecrets:
    """See `WebhookSecrets`."""

    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def secrets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._client.field(Call("GET", "/v1/webhooks/secret"), "secrets")
        return found

    async def rotate(self, expire_previous: bool = False) -> list[dict[str, Any]]:
        body = {"expirePrevious": True} if expire_previous else None
        rotated: list[dict[str, Any]] = await self._client.field(
            Call("POST", "/v1/webhooks/secret/rotate", json=body), "secrets")
        return rotated


class AsyncVault:
    """See `Vault`."""

    def __init__(self, client: AsyncTaskhook) -> None:
        self._client = client

    async def list(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = await self._client.field(Call("GET", "/v1/tokens"), "tokens")
        return tokens

    async def get(self, token_id: str) -> dict[str, Any]:
        token: dict[str, Any] = await self._client.field(Call("GET", f"/v1/tokens/{token_id}"), "token")
        return token

    async def create(self, name: str, value: str, hosts: Sequence[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "value": value, **({"hosts": list(hosts)} if hosts is not None else {})}
        token: dict[str, Any] = await self._client.field(Call("POST", "/v1/tokens", json=body), "token")
        return token

    async def bind(self, token_id: str, hosts: Sequence[str] | None) -> dict[str, Any]:
        token: dict[str, Any] = await self._client.field(
            Call("PUT", f"/v1/tokens/{token_id}", json={"hosts": None if hosts is None else list(hosts)}), "token")
        return token

    async def rotate(self, token_id: str, value: str) -> dict[str, Any]:
        token: dict[str, Any] = await self._client.field(
            Call("PUT", f"/v1/tokens/{token_id}", json={"value": value}), "token")
        return token

    async def delete(self, token_id: str) -> dict[str, Any]:
        token: dict[str, Any] = await self._client.field(Call("DELETE", f"/v1/tokens/{token_id}"), "token")
        return token
