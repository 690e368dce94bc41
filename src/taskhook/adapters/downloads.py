"""Downloading one file from a provider's URL into a local file (a provider task's outputs,
run/provider_outputs.py): through the guarded session (every connection passes the outbound
guard, adapters/http.py), streamed with a size cap and a deadline. Redirects are followed here, one
hop at a time, so that the caller decides for each URL which headers it gets (requests would
forward a task's custom headers to whatever host a redirect names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin

import requests

from taskhook.adapters.http import USER_AGENT, attempt_deadline
from taskhook.model.attempt import network_error
from taskhook.model.errors import BlockedTarget
from taskhook.model.outputs import DownloadFailed
from taskhook.model.urls import InvalidUrl, parse_http_url

CHUNK_BYTES = 256 * 1024
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Fetched:
    content_type: str | None  # the Content-Type the file was served with
    size: int  # bytes written to the sink
    url: str  # the URL that served it (after redirects)


def _megabytes(size: int) -> str:
    """The cap as the error states it: whole megabytes (MiB), else bytes."""
    return f"{size // (1024 * 1024)} MB" if size % (1024 * 1024) == 0 else f"{size} bytes"


class SessionDownloader:
    """`download(team, url, headers_for, sink, max_bytes, timeout)` over the team's requests session
    (`sessions(team)`: adapters/http.py TeamSessions)."""

    def __init__(self, sessions: Callable[[str], requests.Session], max_redirects: int) -> None:
        self._sessions = sessions
        self._max_redirects = max_redirects

    def download(self, team: str, url: str, headers_for: Callable[[str], Mapping[str, str]], sink: IO[bytes],
                 max_bytes: int, timeout: float) -> Fetched:
        """Write the body of a 2xx GET of `url` to `sink`. `headers_for(url)` gives the headers for
        each URL asked (the first and every redirect's). Raises DownloadFailed when the answer is not
        2xx, when the body passes `max_bytes` (announced or counted: what was written is then
        incomplete and must be dropped), when `timeout` seconds pass, or when the outbound guard
        refuses an address."""
        timed_out = f"timeout after {round(timeout, 1):g}s"
        with attempt_deadline(timeout) as expired:
            try:
                return self._follow(self._sessions(team), url, headers_for, sink, max_bytes, timeout)
            except BlockedTarget as exc:
                raise DownloadFailed(str(exc)) from None
            except (requests.Timeout, TimeoutError):
                raise DownloadFailed(timed_out) from None
            except requests.RequestException as exc:
                if expired.is_set():
                    raise DownloadFailed(timed_out) from None
                if isinstance(exc.__context__, BlockedTarget):
                    raise DownloadFailed(str(exc.__context__)) from None
                raise DownloadFailed(network_error(exc)) from None

    def _follow(self, session: requests.Session, url: str, headers_for: Callable[[str], Mapping[str, str]],
                sink: IO[bytes], max_bytes: int, timeout: float) -> Fetched:
        for _ in range(self._max_redirects + 1):
            try:
                url = parse_http_url(url).url
            except InvalidUrl:
                raise DownloadFailed("not a valid http(s) URL") from None
            headers = {"User-Agent": USER_AGENT, **headers_for(url)}
            response = session.get(url, headers=headers, timeout=(min(timeout, CONNECT_TIMEOUT), timeout),
                                   allow_redirects=False, stream=True)
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if not 200 <= response.status_code < 300:
                    raise DownloadFailed(f"HTTP {response.status_code}")
                announced = response.headers.get("Content-Length", "")
                if announced.isdigit() and int(announced) > max_bytes:
                    raise DownloadFailed(f"larger than {_megabytes(max_bytes)}")
                size = 0
                for chunk in response.iter_content(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadFailed(f"larger than {_megabytes(max_bytes)}")
                    sink.write(chunk)
                return Fetched(response.headers.get("Content-Type"), size, url)
        raise DownloadFailed(f"more than {self._max_redirects} redirects")
