"""Bad input to `POST /v1/tasks`: a 400/413 with seed 002's exact message, and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

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
