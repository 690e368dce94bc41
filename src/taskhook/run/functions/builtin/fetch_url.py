"""`builtin.fetch_url`: download a URL into the task's output file, with progress.

    curl -X POST $URL/api/builtin/task/start/fetch_url -H "Authorization: Bearer $KEY" \
      -H "Content-Type: application/json" -d '{"url": "https://example.com/report.pdf"}'

The body streams to a temporary file and from there to S3 (never all in memory); the task's
`download_url` then serves it. The same outbound guard as HTTP tasks applies, on every
connection and redirect: private, loopback and link-local addresses are refused unless
TASKHOOK_OUTBOUND_ALLOW lists them. `url` is checked when the task is created (a 400, like any bad
argument) and again by every connection the download makes (model/urls.py parses it both times).
4xx answers and refused addresses ("destination not allowed") fail the task at once; network
errors and 5xx are retried (max_retries=2).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import requests
from pydantic import AfterValidator, Field

from taskhook.authoring import TaskContext, TaskFailed, function_task
from taskhook.model.attempt import network_error
from taskhook.model.errors import BlockedTarget
from taskhook.model.headers import framing_error, is_framing_header, is_header_name, is_header_value
from taskhook.model.tokens import references
from taskhook.model.urls import OUTBOUND_URL, InvalidUrl, parse_http_url

DESTINATION_NOT_ALLOWED = "destination not allowed"
CHUNK = 256 * 1024
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def _http_url(value: str) -> str:
    try:
        parse_http_url(value)
    except InvalidUrl:
        raise ValueError("must be an http(s) URL") from None
    return value


def _headers(value: dict[str, str]) -> dict[str, str]:
    if not all(is_header_name(name) and is_header_value(text) for name, text in value.items()):
        raise ValueError("header names must be tokens; values must not hold control characters")
    framing = next((name for name in value if is_framing_header(name)), None)
    if framing is not None:  # the pooled connections serve every team: the client frames the request
        raise ValueError(framing_error(framing))
    if references(value):  # sent as they are (and on to redirects): never a vault reference
        raise ValueError("tok_ vault references are resolved only in HTTP tasks' headers (POST /v1/tasks), "
                         "not in fetch_url's")
    return value


def _get(task: TaskContext, url: str, headers: dict[str, str]) -> requests.Response:
    """GET through the task's guarded session (redirects followed, each connection checked)."""
    if task.http is None:
        raise TaskFailed("this runner makes no outbound calls")
    try:
        sent = parse_http_url(url).url  # the parser the create-time check used
    except InvalidUrl:
        raise TaskFailed(DESTINATION_NOT_ALLOWED) from None
    try:
        return task.http.get(sent, headers=headers, stream=True, timeout=(10, 60), allow_redirects=True)
    except BlockedTarget as exc:
        raise TaskFailed(str(exc)) from None
    except requests.RequestException as exc:
        blocked = _blocked(exc)
        if blocked is not None:
            raise TaskFailed(str(blocked)) from None
        # retried, and said as an HTTP task says it (no pool, host or port in the text)
        raise ConnectionError(network_error(exc)) from None


def _filename(url: str, content_type: str | None) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if name and "." in name:
        return name
    extension = mimetypes.guess_extension((content_type or "").split(";")[0].strip()) or ""
    return (name or "download") + extension


def _blocked(exc: BaseException) -> BlockedTarget | None:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, BlockedTarget):
            return current
        current = current.__cause__ or current.__context__
    return None


@function_task(namespace="builtin", timeout=300, max_retries=2, max_wait_time=1800)
def fetch_url(
    task: TaskContext,
    url: Annotated[str, AfterValidator(_http_url), OUTBOUND_URL],
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = {},  # noqa: B006 - read-only default; pydantic copies it per task
    filename: Annotated[str | None, Field(max_length=128)] = None,
    max_bytes: Annotated[int, Field(ge=1, le=5 * 1024**3)] = DEFAULT_MAX_BYTES,
) -> dict[str, Any]:
    """Download `url` (GET, redirects followed) into the task's output file."""
    task.update_sync(progress=1, message=f"connecting to {urlsplit(url).hostname}")
    digest = hashlib.sha256()
    size = 0
    handle, path = tempfile.mkstemp(prefix="taskhook-fetch-")
    try:
        with os.fdopen(handle, "wb") as sink, _get(task, url, headers) as response:
            if 400 <= response.status_code < 500:
                raise TaskFailed(f"HTTP {response.status_code} from {url}")
            response.raise_for_status()  # 5xx: retried
            total = int(response.headers.get("Content-Length") or 0) or None
            content_type = response.headers.get("Content-Type", "application/octet-stream")
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TaskFailed(f"the response is larger than max_bytes ({max_bytes})")
                digest.update(chunk)
                sink.write(chunk)
                if total:
                    task.update_sync(progress=1 + 94 * min(size, total) / total, message=f"{size} bytes")
        task.update_sync(progress=96, message="storing the output")
        name = filename or _filename(response.url or url, content_type)
        output = task.save_output(path, content_type=content_type.split(";")[0].strip(), filename=name)
    finally:
        os.unlink(path)
    return {"url": url, "finalUrl": response.url, "statusCode": response.status_code,
            "contentType": output["contentType"], "size": size, "sha256": digest.hexdigest(),
            "filename": output["filename"]}
