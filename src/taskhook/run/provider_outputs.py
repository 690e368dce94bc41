"""A provider task's output files, kept: when the task completes, the files its result names are
copied into the outputs bucket (`Task.outputs`), so that they outlive the provider's retention
(Replicate deletes API outputs after an hour).

Which files (`named_files`):
- with an `outputPath` (Replicate's template: `output`; a dotted path, read as statusPath is by
  model/polling.py), the value there: an http(s) URL, a file object `{"url": …}`, or lists and
  objects of these (an object without `url` is searched through);
- without one, for a provider task (fal), every file object anywhere in the result: an object with
  an http(s) `url` (fal's File: `content_type` and `file_name`, when given, are used too; a video
  may come as just `{"url": …}`);
- neither (a custom pollConfig without outputPath): none.
A string that is not an http(s) URL (a language model's text output) is not a file. A URL named
twice is copied once.

Each file is downloaded through the outbound guard (SSRF) into a temporary file, at most
`max_bytes` (a larger one is dropped before anything is stored), then stored under
`outputs/<team>/<task>/<n>-<safe filename>` with the content type it was served with (or the one
the result gives, or one guessed from its name). The task's headers (its auth, `tok_` references
resolved) go only to a URL of the submit URL's origin (scheme, host, port), on the first request
and on every redirect; any other origin gets none. At most `max_files` files are copied.

A file that cannot be copied gets `{source, error}` and the others are still copied; only a failing
object store, or a throttled vault (Busy), raises. A repeated copy is safe: the keys are the same,
it overwrites.
"""

from __future__ import annotations

import mimetypes
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from taskhook.model.errors import Busy, TaskhookError
from taskhook.model.limits import (
    MAX_OUTPUT_FILE_BYTES,
    MAX_OUTPUT_FILES,
    OUTPUT_DOWNLOAD_TIMEOUT,
    OUTPUT_SCRATCH_BYTES,
)
from taskhook.model.outputs import DownloadFailed, numbered_output_key, safe_filename
from taskhook.model.polling import PollSpec, read_path
from taskhook.model.task import Task
from taskhook.model.urls import InvalidUrl, parse_http_url
from taskhook.ports import FileDownloader, OutputStore

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_GENERIC_TYPES = (DEFAULT_CONTENT_TYPE, "binary/octet-stream")  # served when the server did not know
MAX_CONTENT_TYPE = 255
# Seconds of the invocation kept for what follows the copy (the task's final write).
TIME_RESERVE = 5.0
MIN_DOWNLOAD_SECONDS = 1.0
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


@dataclass(frozen=True)
class FileRef:
    url: str  # as the result names it (an entry's `source`)
    filename: str | None = None  # the name the result gives it (fal's `file_name`)
    content_type: str | None = None  # the type the result gives it (fal's `content_type`)


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parse_http_url(value)
    except InvalidUrl:
        return None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _file_object(value: dict[str, Any]) -> FileRef | None:
    url = _http_url(value.get("url"))
    if url is None:
        return None
    return FileRef(url, _text(value.get("file_name")), _text(value.get("content_type")))


def _walk(value: Any, found: Callable[[Any], FileRef | None]) -> list[FileRef]:
    """Every FileRef `found` sees in `value`, in document order; lists and objects it does not
    take are searched through (iteratively: a deep document cannot exhaust the stack)."""
    refs: list[FileRef] = []
    stack = [value]
    while stack:
        item = stack.pop()
        ref = found(item)
        if ref is not None:
            refs.append(ref)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return refs


def _at_output_path(item: Any) -> FileRef | None:
    if isinstance(item, str):
        url = _http_url(item)
        return FileRef(url) if url else None
    if isinstance(item, dict) and "url" in item:
        return _file_object(item)
    return None


def _file_object_anywhere(item: Any) -> FileRef | None:
    return _file_object(item) if isinstance(item, dict) else None


def named_files(result: Any, output_path: str | None, provider: str | None) -> list[FileRef]:
    """The files a provider's final result names (see the module's docstring), each URL once."""
    if output_path:
        refs = _walk(read_path(result, output_path), _at_output_path)  # the missing marker: no file
    elif provider:
        refs = _walk(result, _file_object_anywhere)
    else:
        refs = []
    seen: set[str] = set()
    unique = []
    for ref in refs:
        if ref.url not in seen:
            seen.add(ref.url)
            unique.append(ref)
    return unique


def _origin(url: str | None) -> tuple[str, str, int] | None:
    try:
        parsed = parse_http_url(url)
    except InvalidUrl:
        return None
    return parsed.scheme, parsed.host, parsed.port


def _content_type(value: str | None) -> str | None:
    """`value` if it is a well-formed media type (parameters kept) that fits a header; else None."""
    if not value or len(value) > MAX_CONTENT_TYPE or not value.isascii() or not value.isprintable():
        return None
    return value.strip() if _MEDIA_TYPE.fullmatch(value.split(";", 1)[0].strip()) else None


def _choose_content_type(served: str | None, declared: str | None, name: str) -> str:
    served = _content_type(served)
    if served and not served.lower().startswith(_GENERIC_TYPES):
        return served
    return _content_type(declared) or mimetypes.guess_type(name)[0] or served or DEFAULT_CONTENT_TYPE


def _url_filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


class ProviderOutputs:
    """Copies the files a provider task's result names into the object store."""

    def __init__(self, store: OutputStore, downloader: FileDownloader,
                 headers: Callable[[Task], Mapping[str, str]],
                 max_bytes: int = MAX_OUTPUT_FILE_BYTES, max_files: int = MAX_OUTPUT_FILES,
                 timeout: float = OUTPUT_DOWNLOAD_TIMEOUT, scratch_dir: str | None = None,
                 scratch_bytes: int = OUTPUT_SCRATCH_BYTES) -> None:
        """`headers(task)`: the task's headers as they are sent (`tok_` references resolved; may
        raise TaskhookError, e.g. the vault's TokenUnavailable), asked only when a file is at the
        submit URL's origin. Files are downloaded into `scratch_dir` (the system's temporary
        directory), at most `scratch_bytes // max_bytes` at once in this process."""
        self._store = store
        self._downloader = downloader
        self._headers = headers
        self._max_bytes = max_bytes
        self._max_files = max_files
        self._timeout = timeout
        self._scratch_dir = scratch_dir
        self._slots = threading.BoundedSemaphore(max(1, scratch_bytes // max_bytes))

    def copy(self, task: Task, result: Any, spec: PollSpec,
             time_left: Callable[[], float] | None = None) -> list[dict[str, Any]]:
        """`[{key, contentType, size, filename, source}]` for each file copied, `{source, error}` for
        each that was not, in the result's order. `time_left()`: seconds the invocation has left
        (each download is cut to it, less a reserve; a file with no time left is not copied)."""
        refs = named_files(result, spec.outputPath, spec.provider)
        headers_for = self._headers_rule(task)
        entries = []
        for number, ref in enumerate(refs[:self._max_files]):
            timeout = self._timeout
            if time_left is not None:
                timeout = min(timeout, time_left() - TIME_RESERVE)
            if timeout < MIN_DOWNLOAD_SECONDS:
                entries.append({"source": ref.url, "error": "not copied: no time left"})
                continue
            entries.append(self._copy_one(task, number, ref, headers_for, timeout))
        if len(refs) > self._max_files:
            extra = len(refs) - self._max_files
            entries.append({"source": refs[self._max_files].url,
                            "error": f"not copied: at most {self._max_files} output files per task "
                                     f"(this and {extra - 1} more skipped)"})
        return entries

    def _headers_rule(self, task: Task) -> Callable[[str], Mapping[str, str]]:
        """The headers a URL gets: the task's for the submit URL's origin, none for any other."""
        submit = _origin(task.targetUrl)
        resolved: list[Mapping[str, str]] = []

        def headers_for(url: str) -> Mapping[str, str]:
            if submit is None or _origin(url) != submit:
                return {}
            if not resolved:
                try:
                    resolved.append(self._headers(task))
                except Busy:
                    raise  # throttled: the caller may try the copy again
                except TaskhookError as exc:  # e.g. a deleted token: this file cannot be fetched
                    raise DownloadFailed(exc.message) from None
            return resolved[0]

        return headers_for

    def _copy_one(self, task: Task, number: int, ref: FileRef,
                  headers_for: Callable[[str], Mapping[str, str]], timeout: float) -> dict[str, Any]:
        started = time.monotonic()
        if not self._slots.acquire(timeout=timeout):
            return {"source": ref.url, "error": "not copied: no time left (other files were being copied)"}
        try:
            return self._download_and_store(task, number, ref, headers_for, timeout - (time.monotonic() - started))
        finally:
            self._slots.release()

    def _download_and_store(self, task: Task, number: int, ref: FileRef,
                            headers_for: Callable[[str], Mapping[str, str]], timeout: float) -> dict[str, Any]:
        try:
            scratch = tempfile.NamedTemporaryFile(dir=self._scratch_dir, prefix="output-")  # noqa: SIM115
        except OSError as exc:
            return {"source": ref.url, "error": f"not copied: {exc.strerror or type(exc).__name__}"}
        with scratch as sink:
            try:
                fetched = self._downloader.download(task.teamId, ref.url, headers_for, sink, self._max_bytes, timeout)
                sink.flush()
            except DownloadFailed as exc:
                return {"source": ref.url, "error": str(exc)}
            except OSError as exc:  # writing the scratch file (/tmp full), not the network
                return {"source": ref.url, "error": f"not copied: {exc.strerror or type(exc).__name__}"}
            name = ref.filename or _url_filename(ref.url)
            content_type = _choose_content_type(fetched.content_type, ref.content_type, name)
            filename = safe_filename(name, content_type)
            key = numbered_output_key(task.teamId, task.id, number, filename)
            size = self._store.put_file(key, sink.name, content_type)
        return {"key": key, "contentType": content_type, "size": size, "filename": filename, "source": ref.url}
