"""Holes found by a second attack on the local stack (the first: test_attack13.py and the
regression tests named in stop 28's note).

1. HIGH. A task could set `Transfer-Encoding` (or `Content-Length`, `Host`, `Connection`, ...): the
   request went out with the client's Content-Length *and* the task's chunked framing. The outbound
   session's pooled connections serve every team; a server that reads the chunked framing (as nginx
   does) took the rest of the body as a second, unfinished request on that connection, and the next
   team's call to the host completed it: that team's request, vault secrets included, became the
   body of the attacker's request, and its result was the attacker's answer. Framing headers are
   refused at create (here), and dropped at call time for a task stored before
   (test_http_calls.py::test_a_stored_task_s_framing_headers_are_never_sent). builtin.fetch_url's
   headers the same.
2. `GET /v1/tasks?offset=<more than 2^63-1>` was a 500 (islice's limit), and any huge offset read
   every key of the team before answering: offset is at most MAX_OFFSET (page further by cursor).
3. A callback's `result` took `1e999` (a JSON number Python reads as infinity) and stored null with
   a 200: every JSON body now refuses a number no float holds (400), as it refused NaN and Infinity.
4. builtin.fetch_url followed a redirect to another origin with the caller's headers (requests
   drops Authorization only): test_http_calls.py::test_a_redirect_to_another_origin_carries_none_of_the_callers_headers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskhook.adapters.http import OutboundPolicy
from taskhook.intake.callbacks import parse_completion
from taskhook.intake.function_tasks import FunctionTaskService
from taskhook.intake.listing import parse_list_query
from taskhook.intake.retries import retry_of
from taskhook.intake.validation import decode_json_object, parse_create_request
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_OFFSET
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.functions.registry import load_task_modules
from tests.support.fakes import InMemoryTaskRepository

FRAMING = ["Transfer-Encoding", "transfer-encoding", "Transfer_Encoding", "Content-Length", "Host", "Connection",
           "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Connection", "Expect"]


@pytest.mark.parametrize("name", FRAMING)
def test_a_framing_header_is_refused_at_create(name: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_create_request({"targetUrl": "https://api.example.com/hook", "headers": {name: "chunked"}})
    assert str(raised.value) == f"headers must not set {name}: Taskhook frames each request itself"


def test_other_headers_are_still_taken() -> None:
    request = parse_create_request({"targetUrl": "https://api.example.com/hook",
                                    "headers": {"Authorization": "Bearer x", "Content-Type": "text/csv",
                                                "X-Transfer-Encoding": "chunked", "Accept-Encoding": "gzip"}})
    assert set(request.headers) == {"Authorization", "Content-Type", "X-Transfer-Encoding", "Accept-Encoding"}


def test_a_retry_of_a_task_stored_with_framing_headers_carries_none_of_them() -> None:
    """A retry copies the request: a task stored before framing headers were refused would make a
    new task holding them, today."""
    old = Task(id="t1", teamId="team", status=TaskStatus.FAILED, createdAt="2026-01-01T00:00:00.000Z",
               targetUrl="https://api.example.com/hook",
               headers={"Transfer-Encoding": "chunked", "Authorization": "Bearer x", "host": "other.example"})
    assert retry_of(old, "t2", datetime(2026, 1, 2, tzinfo=UTC)).headers == {"Authorization": "Bearer x"}


@pytest.mark.parametrize("name", ["Transfer-Encoding", "Host", "content-length"])
def test_fetch_url_refuses_a_framing_header(name: str) -> None:
    repo = InMemoryTaskRepository()
    public = OutboundPolicy(resolve=lambda host: ["93.184.216.34"])
    service = FunctionTaskService(repo, load_task_modules(("builtin",)), outbound=public)
    with pytest.raises(ValidationFailed, match=f"^Invalid arguments for builtin.fetch_url: headers: .*{name}"):
        service.start("team", "builtin", "fetch_url", {"url": "https://ok.example/", "headers": {name: "chunked"}})
    assert repo.writes == 0


@pytest.mark.parametrize("offset", ["99999999999999999999999", "9223372036854775808", str(MAX_OFFSET + 1)])
def test_an_offset_past_the_limit_is_a_400(offset: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_list_query({"offset": offset})
    assert str(raised.value) == f"offset must be an integer between 0 and {MAX_OFFSET}"


def test_the_largest_offset_is_taken() -> None:
    assert parse_list_query({"offset": str(MAX_OFFSET)}).offset == MAX_OFFSET


@pytest.mark.parametrize("raw", ['{"status": "completed", "result": {"x": 1e999}}',
                                 '{"status": "completed", "result": [-1e400]}',
                                 '{"targetUrl": "https://a.example/", "maxRetries": 1e309}'])
def test_a_number_no_float_holds_is_a_400_not_a_null(raw: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        decode_json_object(raw)
    assert str(raised.value) == "Request body must be valid JSON: a number is too large for a 64-bit float"


def test_large_finite_numbers_still_decode() -> None:
    body = decode_json_object('{"status": "completed", "result": {"big": 1e308, "int": 100000000000000000000000}}')
    assert parse_completion(body).result == {"big": 1e308, "int": 100000000000000000000000}
