"""How the local API server sorts and logs a request before Chalice sees it (infra/api_server.py):
which requests are long polls (their own slots), and what of a query reaches the log. Both read
the query as the gateway does: decoded (a reviewer sent `%77ait=25`, a long poll the first
version put in the general slots)."""

from __future__ import annotations

import pytest

from infra.api_server import _redacted, is_long_poll


@pytest.mark.parametrize("path", ["/v1/tasks/x?wait=20", "/v1/tasks/x?%77ait=25", "/v1/tasks/x?w%61it=1",
                                  "/v1/tasks/x?a=1&wait=0.5", "/v1/tasks/x?wait=0&wait=3"])
def test_a_get_that_waits_is_a_long_poll(path: str) -> None:
    assert is_long_poll("GET", path)


@pytest.mark.parametrize("command, path", [("GET", "/v1/tasks/x"), ("GET", "/v1/tasks/x?wait=0"),
                                           ("GET", "/v1/tasks/x?wait="), ("GET", "/v1/tasks/x?wait=abc"),
                                           ("GET", "/v1/tasks/x?wait=3&wait=0"), ("GET", "/v1/tasks?nowait=5"),
                                           ("POST", "/v1/tasks?wait=5")])
def test_anything_else_is_not(command: str, path: str) -> None:
    assert not is_long_poll(command, path)


@pytest.mark.parametrize("query", ["api_key=th_SECRET", "api%5Fkey=th_SECRET", "API_KEY=th_SECRET",
                                   "ticket=wst_SECRET", "client_token=ct_SECRET", "token=SECRET",
                                   "limit=1&ticket=wst_SECRET"])
def test_a_credential_in_a_query_is_masked_however_its_name_is_spelled(query: str) -> None:
    line = f'"GET /v1/tasks?{query}&q=1 HTTP/1.1" 200 -'
    shown = _redacted(line)
    assert "SECRET" not in shown
    assert shown.endswith('&q=1 HTTP/1.1" 200 -')


def test_other_parameters_are_kept() -> None:
    line = '"GET /v1/tasks?limit=5&status=completed HTTP/1.1" 200 -'
    assert _redacted(line) == line
