"""Bad input to `POST /v1/tasks`: a 400/413 with seed 002's exact message, and nothing stored."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from taskhook.model.limits import MAX_DELAY_DAYS

from .conftest import FAR_FUTURE, Client, Stack

URL = "https://api.example.com/webhook"
OK = {"targetUrl": URL, "delayUntil": FAR_FUTURE}  # valid, and never run

# seed 002's six validation messages, each with bodies that must produce it.
SEED_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({}, "targetUrl is required"),
    ({"method": "GET"}, "targetUrl is required"),
    ({"targetUrl": "ftp://example.com/file"}, "targetUrl must be a valid HTTP/HTTPS URL"),
    ({"targetUrl": "not a url"}, "targetUrl must be a valid HTTP/HTTPS URL"),
    ({"targetUrl": "https://"}, "targetUrl must be a valid HTTP/HTTPS URL"),
    ({"targetUrl": 42}, "targetUrl must be a valid HTTP/HTTPS URL"),
    ({"targetUrl": None}, "targetUrl must be a valid HTTP/HTTPS URL"),
    ({**OK, "method": "PATCH"}, "method must be one of: GET, POST, PUT, DELETE"),
    ({**OK, "method": 1}, "method must be one of: GET, POST, PUT, DELETE"),
    ({**OK, "maxRetries": 11}, "maxRetries must be a number between 0 and 10"),
    ({**OK, "maxRetries": -1}, "maxRetries must be a number between 0 and 10"),
    ({**OK, "maxRetries": "3"}, "maxRetries must be a number between 0 and 10"),
    ({**OK, "maxRetries": True}, "maxRetries must be a number between 0 and 10"),
    ({**OK, "priority": 0}, "priority must be an integer between 1 and 10"),
    ({**OK, "priority": 11}, "priority must be an integer between 1 and 10"),
    ({**OK, "priority": 5.5}, "priority must be an integer between 1 and 10"),
    ({**OK, "priority": "high"}, "priority must be an integer between 1 and 10"),
    ({**OK, "delayUntil": "tomorrow"}, "delayUntil must be a valid ISO 8601 date"),
    ({**OK, "delayUntil": "2024-13-45T99:00:00Z"}, "delayUntil must be a valid ISO 8601 date"),
    ({**OK, "delayUntil": 1705314600}, "delayUntil must be a valid ISO 8601 date"),
]

OTHER_FIELD_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({**OK, "retryBackoff": "fibonacci"}, "retryBackoff"),
    ({**OK, "headers": ["Authorization"]}, "headers"),
    ({**OK, "headers": {"X-Number": 1}}, "headers"),
    ({**OK, "headers": {"Transfer-Encoding": "chunked"}}, "headers"),  # the client frames requests
    ({**OK, "headers": {"host": "other.example"}}, "headers"),
    ({**OK, "body": {"action": "process"}}, "body"),
    ({**OK, "maxWaitTime": 0}, "maxWaitTime"),
    ({**OK, "timeout": "30"}, "timeout"),
    ({**OK, "onCompleteUrl": "mailto:ops@example.com"}, "onCompleteUrl"),
    ({**OK, "provider": "openai-ish"}, "provider"),
    ({**OK, "pollConfig": {"statusPath": "status"}}, "pollConfig"),
]


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Client]:
    """One team for the whole module; every test below must leave it with no task at all."""
    team = stack.new_team()
    yield team
    assert team.total() == 0, "a rejected request stored a task"


def assert_rejected(response: requests.Response, client: Client, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    assert client.total() == 0, "a rejected request stored a task"
    return body["error"]


@pytest.mark.parametrize(("body", "message"), SEED_MESSAGES, ids=[m + " " + json.dumps(b) for b, m in SEED_MESSAGES])
def test_seed_validation_messages(client: Client, body: dict[str, Any], message: str) -> None:
    assert assert_rejected(client.create(body), client) == message


@pytest.mark.parametrize(("body", "field"), OTHER_FIELD_ERRORS, ids=[f for _, f in OTHER_FIELD_ERRORS])
def test_other_invalid_fields_name_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    assert field in assert_rejected(client.create(body), client)


def test_every_seed_message_is_covered() -> None:
    seed = {
        "targetUrl is required", "targetUrl must be a valid HTTP/HTTPS URL",
        "method must be one of: GET, POST, PUT, DELETE", "maxRetries must be a number between 0 and 10",
        "priority must be an integer between 1 and 10", "delayUntil must be a valid ISO 8601 date",
    }
    assert {m for _, m in SEED_MESSAGES} == seed


@pytest.mark.parametrize("extra", [{"foo": 1}, {"callback_url": "https://x.example"}, {"TargetUrl": URL}])
def test_unknown_field_is_400(client: Client, extra: dict[str, Any]) -> None:
    message = assert_rejected(client.create({**OK, **extra}), client)
    assert next(iter(extra)) in message


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b'{"targetUrl": "https://x.example"', b"\xff\xfe\x00", b"null", b'"a string"', b"42", b"true"],
    ids=["broken", "truncated", "not-utf8", "null", "string", "number", "bool"],
)
def test_malformed_or_non_object_json_is_400(client: Client, raw: bytes) -> None:
    response = client.create(data=raw, headers={"Content-Type": "application/json"})
    assert_rejected(response, client)


def test_a_json_array_is_400(client: Client) -> None:
    response = client.create([OK])
    message = assert_rejected(response, client)
    assert "object" in message


def test_an_empty_body_is_400(client: Client) -> None:
    assert_rejected(client.create(data=b"", headers={"Content-Type": "application/json"}), client)


def test_a_body_over_256_kb_is_413(client: Client) -> None:
    body = json.dumps({**OK, "body": "x" * (256 * 1024)}).encode()
    assert len(body) > 256 * 1024
    response = client.create(data=body, headers={"Content-Type": "application/json"})
    assert_rejected(response, client, status=413)


def test_a_body_just_under_256_kb_is_accepted(stack: Stack) -> None:
    team = stack.new_team()
    payload = {**OK, "body": ""}
    payload["body"] = "x" * (256 * 1024 - len(json.dumps(payload).encode()))
    raw = json.dumps(payload).encode()
    assert len(raw) == 256 * 1024
    response = team.create(data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text[:200]
    assert len(response.json()["task"]["body"]) == len(payload["body"])


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "abc"}, {"limit": "-1"}, {"offset": "-1"}, {"offset": "x"},
     {"offset": "99999999999999999999999"}, {"offset": "100001"},
     {"sortOrder": "sideways"}, {"status": "done"}, {"page": "2"}],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
def test_bad_list_parameters_are_400(client: Client, params: dict[str, str]) -> None:
    message = assert_rejected(client.list(**params), client)
    assert next(iter(params)) in message


@pytest.mark.parametrize("wait", ["26", "-1", "abc", "100000"])
def test_bad_wait_is_400(client: Client, wait: str) -> None:
    task_id = "00000000-0000-0000-0000-000000000000"
    message = assert_rejected(client.get(task_id, wait=wait), client)
    assert "wait" in message


LONE_SURROGATE = "\\ud800"  # valid JSON escape syntax, but not a Unicode character: cannot be stored


@pytest.mark.parametrize(
    "field_json",
    [f'"body": "{LONE_SURROGATE}"', f'"headers": {{"X-A": "{LONE_SURROGATE}"}}',
     f'"onCompleteUrl": "https://x.example/{LONE_SURROGATE}"'],
    ids=["body", "header-value", "onCompleteUrl"],
)
def test_a_lone_surrogate_escape_is_a_400_not_a_500(client: Client, field_json: str) -> None:
    raw = f'{{"targetUrl": "{URL}", "delayUntil": "{FAR_FUTURE}", {field_json}}}'.encode()
    response = client.create(data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, (response.status_code, response.text)
    assert_rejected(response, client)


# ---- issue 11, item 6: answers that were not {"error": …}, or took what JSON cannot hold ------


@pytest.mark.parametrize("path", ["/nope", "/v1/task", "/v1/tasks/a/b/c", "/api/x/y"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_unknown_route_is_404_and_repeats_nothing_of_the_request(client: Client, path: str, method: str) -> None:
    response = client.request(method, path, headers={"X-Probe": "probe-value"}, data=b'{"probe": "body-value"}')
    assert assert_rejected(response, client, status=404) == "Not found"
    assert client.key is not None
    for leaked in (client.key, "Bearer", "probe-value", "body-value"):
        assert leaked not in response.text


def test_an_unknown_route_with_a_non_ascii_authorization_header_is_404(stack: Stack) -> None:
    response = requests.get(stack.url + "/nope", headers={"Authorization": "Bearer \u00e9".encode()}, timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}


def test_a_method_a_route_does_not_take_is_405_in_the_error_format(client: Client) -> None:
    response = client.request("DELETE", "/v1/tasks")
    assert assert_rejected(response, client, status=405) == "Method not allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_a_method_no_route_takes_is_405_in_the_error_format_not_an_html_501(client: Client, method: str) -> None:
    """Review of issue 11 (schemathesis --mode all): http.server's own 501 HTML page answered these."""
    response = client.request(method, "/v1/tasks")
    assert assert_rejected(response, client, status=405) == "Method not allowed"


@pytest.mark.parametrize("path", ["/v1/tasks", "/tasks/create", "/api/example_task/task/start/task1"])
def test_an_unsupported_content_type_is_415_in_the_error_format(client: Client, path: str) -> None:
    response = client.request("POST", path, data=b"<task/>", headers={"Content-Type": "application/xml+probe"})
    message = assert_rejected(response, client, status=415)
    assert "application/json" in message and "probe" not in message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/tasks", '{"targetUrl": "https://x.example/", "delayUntil": "$DELAY", "maxWaitTime": $C}'),
        ("/v1/tasks", '{"targetUrl": "https://x.example/", "delayUntil": "$DELAY", "x": [$C]}'),
        ("/api/example_task/task/start/task1", '{"value": $C}'),
        ("/api/example_task/task/start/task1", '{"nested": {"list": [1, $C]}}'),
        ("/tasks/create", '{"task_name": "example_task.task1", "task_data": {"value": $C}}'),
    ],
    ids=["v1-number", "v1-extra", "seed003", "seed003-nested", "seed000"],
)
def test_nan_and_infinity_are_refused_not_stored_as_null(client: Client, path: str, template: str,
                                                         constant: str) -> None:
    raw = template.replace("$DELAY", FAR_FUTURE).replace("$C", constant)
    response = client.request("POST", path, data=raw.encode(),
                              headers={"Content-Type": "application/json"})
    assert "NaN and Infinity" in assert_rejected(response, client)


@pytest.mark.parametrize("delay_until", ["9999-12-31T23:59:59Z", "2200-01-01T00:00:00Z"])
def test_a_delay_beyond_the_maximum_is_400(client: Client, delay_until: str) -> None:
    message = assert_rejected(client.create({**OK, "delayUntil": delay_until}), client)
    assert message == f"delayUntil must be at most {MAX_DELAY_DAYS} days in the future"


def test_a_delay_a_day_beyond_the_maximum_is_400_and_a_day_within_it_is_accepted(stack: Stack) -> None:
    team = stack.new_team()
    now = datetime.now(UTC)
    too_far = (now + timedelta(days=MAX_DELAY_DAYS + 1)).isoformat()
    assert_rejected(team.create({**OK, "delayUntil": too_far}), team)
    within = (now + timedelta(days=MAX_DELAY_DAYS - 1)).isoformat()
    assert team.create_ok({**OK, "delayUntil": within})["status"] == "delayed"


def test_a_content_length_that_is_not_a_number_is_400(stack: Stack) -> None:
    """The local server dropped the connection (API Gateway answers 400 itself)."""
    host, port = stack.url.removeprefix("http://").split(":")
    raw = b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert json.loads(body) == {"error": "Bad request"}


@pytest.mark.parametrize("path", ["/v1/tasks", "/api/example_task/task/start/task1", "/v1/tokens"])
def test_a_body_announced_over_256_kb_is_413_before_it_is_read(stack: Stack, path: str) -> None:
    """Every route refuses a body over 256 KB, but the local server read the whole announced body
    first, before even the key was checked: 150 MB from anyone grew the API by 150 MB (attacker
    review). The answer comes without the body being sent (the socket would wait for it)."""
    host, port = stack.url.removeprefix("http://").split(":")
    raw = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {150 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(raw + b'{"x": "')
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"error": "Request body exceeds 256 KB"}


def test_credentials_in_a_query_never_reach_the_api_log(stack: Stack, client: Client) -> None:
    """The API takes no credential in a query, but a client may put one there (the WebSocket URL
    takes `api_key` and `ticket`): the access log masks them."""
    secrets = {"api_key": client.key, "ticket": "wst_" + "s" * 40, "client_token": "ct_" + "c" * 43}
    for name, value in secrets.items():
        client.request("GET", f"/v1/tasks?{name}={value}&limit=1")
    log = (stack.state_dir / "api.log").read_text(errors="replace")
    for name, value in secrets.items():
        assert value not in log
        assert f"/v1/tasks?{name}=…&limit=1" in log
