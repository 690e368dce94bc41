"""The `POST /v1/tasks` validation table: every field, every rule, the seed's exact messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskhook.intake.validation import (
    FIELD_MESSAGES,
    MAX_BODY_BYTES,
    CreateTaskRequest,
    decode_json_object,
    parse_create_request,
)
from taskhook.model.errors import PayloadTooLarge, ValidationFailed

URL = "https://api.example.com/webhook"
POLL = {
    "urlTemplate": "https://api.provider.test/jobs/{id}",
    "statusPath": "status",
    "doneValues": ["done"],
    "failValues": ["error"],
}

# The messages, written out literally: the seed 002 ones verbatim, the others Taskhook's own.
TARGET_URL = "targetUrl must be a valid HTTP/HTTPS URL"
METHOD = "method must be one of: GET, POST, PUT, DELETE"
HEADERS = "headers must be an object of header names to string values"
BODY = "body must be a string"
MAX_WAIT = "maxWaitTime must be a number between 1 and 86400"
TIMEOUT = "timeout must be a number between 1 and 300"
DELAY_UNTIL = "delayUntil must be a valid ISO 8601 date"
MAX_RETRIES = "maxRetries must be a number between 0 and 10"
BACKOFF = "retryBackoff must be one of: linear, exponential"
PRIORITY = "priority must be an integer between 1 and 10"
ON_COMPLETE = "onCompleteUrl must be a valid HTTP/HTTPS URL"
PROVIDER = "provider must be one of: fal, replicate"
POLL_CONFIG = (
    "pollConfig must be an object with urlTemplate (string), statusPath (string), "
    "doneValues (array of strings) and failValues (array of strings)"
)
POLL_TEMPLATE = "pollConfig.{} must be an HTTP/HTTPS URL, or one {{{{placeholder}}}} standing for one"


def with_url(**fields: Any) -> dict[str, Any]:
    return {"targetUrl": URL, **fields}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_create_request(data)
    assert info.value.status_code == 400
    return info.value.message


# ---------------------------------------------------------------------------------------------
# Messages


@pytest.mark.parametrize(
    "message",
    [
        "targetUrl must be a valid HTTP/HTTPS URL",
        "method must be one of: GET, POST, PUT, DELETE",
        "maxRetries must be a number between 0 and 10",
        "priority must be an integer between 1 and 10",
        "delayUntil must be a valid ISO 8601 date",
    ],
)
def test_seed_error_messages_are_used_verbatim(message: str) -> None:
    assert message in FIELD_MESSAGES.values()


def test_every_request_field_has_a_message() -> None:
    assert set(FIELD_MESSAGES) == set(CreateTaskRequest.model_fields)


# ---------------------------------------------------------------------------------------------
# Required fields


@pytest.mark.parametrize(
    "data",
    [{}, {"method": "GET"}, {"priority": 5, "maxRetries": 3}],
    ids=["empty", "only-method", "only-numbers"],
)
def test_missing_target_url_is_required(data: dict[str, Any]) -> None:
    assert error_of(data) == "targetUrl is required"


def test_first_invalid_field_in_declaration_order_wins() -> None:
    assert error_of({"method": "PATCH", "priority": 0}) == "targetUrl is required"
    assert error_of(with_url(method="PATCH", priority=0)) == METHOD


# ---------------------------------------------------------------------------------------------
# The rejection table: (field, value, exact message)

BAD_URLS = [
    "",
    "ftp://example.com/file",
    "javascript:alert(1)",
    "mailto:ops@example.com",
    "file:///etc/passwd",
    "data:text/plain,hello",
    "example.com/webhook",
    "//example.com/webhook",
    "http://",
    "https://",
    "http:///path-without-host",
    "http://:8080/",
    "http://exa mple.com/",
    "http://example.com/\r\nX-Injected: 1",
    "http://example.com/\n",
    "http://example.com:99999/",
    "http://[::1/",
    "https://example.com/" + "a" * 2048,
]
NOT_STRINGS = [None, 42, True, ["https://example.com"], {"url": "https://example.com"}]

REJECTED: list[tuple[str, Any, str]] = [
    *[("targetUrl", v, TARGET_URL) for v in BAD_URLS + NOT_STRINGS],
    *[("onCompleteUrl", v, ON_COMPLETE) for v in BAD_URLS + NOT_STRINGS[1:]],
    # method
    *[("method", v, METHOD) for v in ["PATCH", "HEAD", "", "GETX", " GET", 1, None, True, ["GET"]]],
    # headers: not an object
    *[("headers", v, HEADERS) for v in ["X-A: b", ["X-A", "b"], None, 1, True]],
    # headers: bad names
    *[
        ("headers", {name: "v"}, HEADERS)
        for name in ["X Foo", "", " X-Foo", "X:Foo", "X-Foo\r\n", "Bad\nName", "X\tFoo", "Ünicode"]
    ],
    # headers: bad values (CR/LF injection, non-strings)
    *[
        ("headers", {"X-Foo": value}, HEADERS)
        for value in ["a\r\nInjected: 1", "a\nb", "a\rb", "\n", 1, None, True, ["a"], {"a": "b"}]
    ],
    # body
    *[("body", v, BODY) for v in [1, 1.5, True, {"a": 1}, ["a"]]],
    # maxWaitTime: type errors, then range
    *[("maxWaitTime", v, MAX_WAIT) for v in ["30", True, False, None, [30], {}]],
    *[("maxWaitTime", v, MAX_WAIT) for v in [0, 0.999, -1, 86_400.5, 86_401, float("inf"), float("nan")]],
    ("maxWaitTime", 10**400, MAX_WAIT),
    # timeout
    *[("timeout", v, TIMEOUT) for v in ["30", True, None, [30]]],
    *[("timeout", v, TIMEOUT) for v in [0, 0.5, -30, 300.001, 301, float("inf"), float("nan")]],
    ("timeout", -(10**400), TIMEOUT),
    # maxRetries: type errors, non-integers, range
    *[("maxRetries", v, MAX_RETRIES) for v in ["3", True, False, None, [3], {}]],
    *[("maxRetries", v, MAX_RETRIES) for v in [2.5, 0.1, float("nan"), float("inf")]],
    *[("maxRetries", v, MAX_RETRIES) for v in [-1, 11, 10.5, 100, -0.5]],
    # priority
    *[("priority", v, PRIORITY) for v in ["5", True, False, None, [5]]],
    *[("priority", v, PRIORITY) for v in [5.5, 1.01, float("nan")]],
    *[("priority", v, PRIORITY) for v in [0, 11, -1, 0.0, 10.000001]],
    # delayUntil
    *[
        ("delayUntil", v, DELAY_UNTIL)
        for v in [
            "",
            "tomorrow",
            "now",
            "15/01/2024",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-15T25:00:00Z",
            "2024-01-15T10:61:00Z",
            "2024-01-15T10:30:00+25:00",
            "2024-01-15 and then some",
            1_705_314_600,
            1.5,
            True,
            ["2024-01-15"],
            {"at": "2024-01-15"},
        ]
    ],
    # retryBackoff
    *[("retryBackoff", v, BACKOFF) for v in ["fibonacci", "", "constant", None, 1, ["linear"]]],
    # provider
    *[("provider", v, PROVIDER) for v in ["openai", "", 1, ["fal"]]],
    # pollConfig: not an object
    *[("pollConfig", v, POLL_CONFIG) for v in ["fal", ["a"], 1, True]],
    # pollConfig: wrong subfield types / values, each named (issue 14)
    *[
        ("pollConfig", {**POLL, sub: value}, message)
        for sub, value, message in [
            ("urlTemplate", "", "pollConfig.urlTemplate must be a non-empty string"),
            ("urlTemplate", 1, "pollConfig.urlTemplate must be a non-empty string"),
            ("urlTemplate", None, "pollConfig.urlTemplate is required"),
            ("urlTemplate", "ftp://h/{{id}}", POLL_TEMPLATE.format("urlTemplate")),
            ("resultUrlTemplate", "{{a}}/x", POLL_TEMPLATE.format("resultUrlTemplate")),
            ("statusPath", "", "pollConfig.statusPath must be a non-empty string (a dotted path)"),
            ("statusPath", ["status"], "pollConfig.statusPath must be a non-empty string (a dotted path)"),
            ("doneValues", [], "pollConfig.doneValues must be a non-empty array of strings"),
            ("doneValues", "done", "pollConfig.doneValues must be a non-empty array of strings"),
            ("doneValues", [1], "pollConfig.doneValues must be a non-empty array of strings"),
            ("failValues", "error", "pollConfig.failValues must be an array of strings"),
            ("failValues", [None], "pollConfig.failValues must be an array of strings"),
            ("intervalSeconds", 0, "pollConfig.intervalSeconds must be a number between 1 and 300"),
            ("intervalSeconds", 301, "pollConfig.intervalSeconds must be a number between 1 and 300"),
            ("intervalSeconds", "5", "pollConfig.intervalSeconds must be a number between 1 and 300"),
            ("intervalGrowth", 0.5, "pollConfig.intervalGrowth must be a number between 1 and 4"),
            ("intervalGrowth", True, "pollConfig.intervalGrowth must be a number between 1 and 4"),
            ("maxIntervalSeconds", 901, "pollConfig.maxIntervalSeconds must be a number between 1 and 900"),
            ("errorPath", 3, "pollConfig.errorPath must be a non-empty string (a dotted path)"),
            ("outputPath", "", "pollConfig.outputPath must be a non-empty string (a dotted path)"),
            ("cancelMethod", "GET", "pollConfig.cancelMethod must be one of: POST, PUT, DELETE"),
            ("statusPath", "job..state", "pollConfig.statusPath must be a non-empty string (a dotted path)"),
            ("errorPath", "error.", "pollConfig.errorPath must be a non-empty string (a dotted path)"),
            ("failValues", ["error", "done"], "pollConfig.failValues must not repeat a value of doneValues"),
        ]
    ],
]


def _case_id(case: tuple[str, Any, str]) -> str:
    field, value, _ = case
    if field == "pollConfig" and isinstance(value, dict):
        changed = {k: v for k, v in value.items() if POLL.get(k, object()) != v}
        return ",".join(f"pollConfig.{k}={v!r}" for k, v in changed.items())
    return f"{field}={value!r}"[:60]


@pytest.mark.parametrize(("field", "value", "message"), REJECTED, ids=[_case_id(c) for c in REJECTED])
def test_invalid_field_gives_its_exact_message(field: str, value: Any, message: str) -> None:
    data = {"targetUrl": URL, field: value}
    assert error_of(data) == message


@pytest.mark.parametrize("sub", ["urlTemplate", "statusPath", "doneValues", "failValues"])
def test_poll_config_missing_subfield_is_named(sub: str) -> None:
    config = {k: v for k, v in POLL.items() if k != sub}
    assert error_of(with_url(pollConfig=config)) == f"pollConfig.{sub} is required"


def test_poll_config_empty_object_names_the_first_missing_subfield() -> None:
    assert error_of(with_url(pollConfig={})) == "pollConfig.urlTemplate is required"


# ---------------------------------------------------------------------------------------------
# Unknown fields


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_url(foo=1), "Unknown field: foo"),
        (with_url(target_url=URL), "Unknown field: target_url"),
        (with_url(status="completed"), "Unknown field: status"),
        (with_url(id="abc"), "Unknown field: id"),
        (with_url(pollConfig={**POLL, "foo": 1}), "Unknown field: pollConfig.foo"),
        # an unknown field is reported before the errors it probably caused
        ({"targetURL": URL}, "Unknown field: targetURL"),
        (with_url(priority=99, foo=1), "Unknown field: foo"),
    ],
    ids=["foo", "snake-case", "status", "id", "pollConfig-sub", "typo-before-missing", "before-range"],
)
def test_unknown_field_is_rejected(data: dict[str, Any], message: str) -> None:
    assert error_of(data) == message


# ---------------------------------------------------------------------------------------------
# What is accepted


def test_defaults_are_the_seeds() -> None:
    request = parse_create_request({"targetUrl": URL})
    assert request.model_dump() == {
        "targetUrl": URL,
        "method": "POST",
        "headers": {},
        "body": None,
        "maxWaitTime": 30,
        "timeout": 30,
        "delayUntil": None,
        "maxRetries": 3,
        "retryBackoff": "exponential",
        "priority": 5,
        "onCompleteUrl": None,
        "provider": None,
        "pollConfig": None,
        "waitForCallback": None,
    }


def test_seed_example_request_is_accepted_unchanged() -> None:
    data = {
        "targetUrl": "https://api.example.com/webhook",
        "method": "POST",
        "headers": {"Authorization": "Bearer service-token"},
        "body": '{"action": "process", "data": {"id": 123}}',
        "maxRetries": 3,
        "retryBackoff": "exponential",
        "priority": 8,
        "onCompleteUrl": "https://api.example.com/task-complete",
    }
    request = parse_create_request(data)
    assert request.model_dump(exclude_unset=True) == data


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("maxRetries", 0, 0),
        ("maxRetries", 10, 10),
        ("maxRetries", 3.0, 3),
        ("maxRetries", 10.0, 10),
        ("priority", 1, 1),
        ("priority", 10, 10),
        ("priority", 3.0, 3),
        ("maxWaitTime", 1, 1.0),
        ("maxWaitTime", 86_400, 86_400.0),
        ("maxWaitTime", 1.5, 1.5),
        ("timeout", 1, 1.0),
        ("timeout", 300, 300.0),
        ("timeout", 2.5, 2.5),
        ("retryBackoff", "linear", "linear"),
        ("retryBackoff", "exponential", "exponential"),
        ("provider", "fal", "fal"),
        ("provider", "replicate", "replicate"),
        ("body", "", ""),
        ("body", "plain text", "plain text"),
    ],
)
def test_boundary_and_valid_values_are_accepted(field: str, value: Any, stored: Any) -> None:
    # integer fields come out as int (3.0 -> 3); seconds fields are floats
    request = parse_create_request(with_url(**{field: value}))
    assert getattr(request, field) == stored
    assert type(getattr(request, field)) is type(stored)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [("get", "GET"), ("Post", "POST"), ("put", "PUT"), ("DeLeTe", "DELETE"), ("GET", "GET")],
)
def test_method_is_normalized_to_upper_case(given: str, normalized: str) -> None:
    assert parse_create_request(with_url(method=given)).method == normalized


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://api.example.com/webhook?x=1&y=2#frag",
        "HTTPS://EXAMPLE.COM/Path",
        "http://localhost:8000/hook",
        "http://127.0.0.1/hook",
        "http://[::1]:8080/hook",
    ],
)
def test_http_urls_are_accepted_here(url: str) -> None:
    # Loopback and private targets are refused after DNS resolution, not by validation (DESIGN §3).
    request = parse_create_request({"targetUrl": url, "onCompleteUrl": url})
    assert (request.targetUrl, request.onCompleteUrl) == (url, url)


def test_valid_headers_are_kept_as_given() -> None:
    headers = {"Authorization": "Bearer tok_abc", "X-Custom_1": "", "Accept": "*/*", "x-lower": "a b"}
    assert parse_create_request(with_url(headers=headers)).headers == headers


@pytest.mark.parametrize("field", ["body", "delayUntil", "onCompleteUrl", "provider", "pollConfig"])
def test_explicit_null_for_an_optional_field_means_absent(field: str) -> None:
    assert getattr(parse_create_request(with_url(**{field: None})), field) is None


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("2024-01-15T10:30:00Z", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T10:30:00.000Z", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T10:30:00.123456Z", "2024-01-15T10:30:00.123Z"),
        ("2024-01-15T10:30:00+00:00", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T12:30:00+02:00", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T05:30:00-05:00", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T00:30:00-10:00", "2024-01-15T10:30:00.000Z"),
        ("2024-01-16T00:30:00+14:00", "2024-01-15T10:30:00.000Z"),
        # naive timestamps and bare dates are taken as UTC
        ("2024-01-15T10:30:00", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T10:30", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15", "2024-01-15T00:00:00.000Z"),
    ],
)
def test_delay_until_is_normalized_to_utc_milliseconds_z(given: str, normalized: str) -> None:
    assert parse_create_request(with_url(delayUntil=given)).delayUntil == normalized


def test_poll_config_defaults_interval_and_allows_empty_fail_values() -> None:
    request = parse_create_request(with_url(pollConfig={**POLL, "failValues": []}))
    assert request.pollConfig is not None
    # Only what the client sent is kept; the defaults are model/polling.py's (PollSpec).
    assert request.pollConfig.model_dump(exclude_none=True) == {**POLL, "failValues": []}


# ---------------------------------------------------------------------------------------------
# Bugs: bad input that escapes as a non-domain exception (a 500) or slips through.


@pytest.mark.parametrize(
    ("field", "message"), [("maxRetries", MAX_RETRIES), ("priority", PRIORITY)], ids=["maxRetries", "priority"]
)
def test_huge_integer_is_a_400_not_a_crash(field: str, message: str) -> None:
    data = json.loads(f'{{"targetUrl": "{URL}", "{field}": 1{"0" * 400}}}')  # a 401-digit JSON integer
    assert error_of(data) == message


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_out_of_range_delay_until_is_a_400_not_a_crash(value: str) -> None:
    assert error_of(with_url(delayUntil=value)) == DELAY_UNTIL


@pytest.mark.parametrize("name", ["X-Foo\n", "Authorization\n"])
def test_header_name_with_trailing_newline_is_rejected(name: str) -> None:
    assert error_of(with_url(headers={name: "v"})) == HEADERS


# ---------------------------------------------------------------------------------------------
# decode_json_object


@pytest.mark.parametrize("raw", [None, b"", ""], ids=["none", "empty-bytes", "empty-str"])
def test_missing_body_is_required(raw: bytes | str | None) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_json_object(raw)
    assert info.value.message == "Request body is required"
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "raw",
    ["{", "not json", "   ", "{'targetUrl': 'x'}", '{"a": 1,}', b"\xff\xfe\x00", b'{"a": "\xff"}'],
)
def test_malformed_json_is_rejected(raw: bytes | str) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_json_object(raw)
    assert info.value.message == "Request body must be valid JSON"


@pytest.mark.parametrize("raw", ["[]", '[{"targetUrl": "x"}]', '"text"', "42", "1.5", "null", "true"])
def test_json_that_is_not_an_object_is_rejected(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_json_object(raw)
    assert info.value.message == "Request body must be a JSON object"


@pytest.mark.parametrize("raw", ['{"targetUrl": "https://x.test"}', b'{"targetUrl": "https://x.test"}'])
def test_json_object_is_decoded_from_str_or_bytes(raw: bytes | str) -> None:
    assert decode_json_object(raw) == {"targetUrl": "https://x.test"}


def _object_of_size(size: int) -> bytes:
    prefix, suffix = b'{"body": "', b'"}'
    return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix


def test_body_limit_is_256_kb() -> None:
    assert MAX_BODY_BYTES == 256 * 1024


@pytest.mark.parametrize("to_text", [False, True], ids=["bytes", "str"])
def test_body_of_exactly_256_kb_is_accepted(to_text: bool) -> None:
    raw = _object_of_size(256 * 1024)
    assert len(raw) == 256 * 1024
    decoded = decode_json_object(raw.decode() if to_text else raw)
    assert len(decoded["body"]) == 256 * 1024 - len(b'{"body": ""}')


@pytest.mark.parametrize(
    "raw",
    [
        _object_of_size(256 * 1024 + 1),
        _object_of_size(256 * 1024 + 1).decode(),
        b"x" * (256 * 1024 + 1),  # size is checked before parsing: garbage this big is a 413
        # 131,073 characters but 262,146 UTF-8 bytes: the limit counts bytes
        '{"b": "' + "é" * (128 * 1024) + '"}',
    ],
    ids=["object-bytes", "object-str", "garbage", "multibyte-str"],
)
def test_body_over_256_kb_is_payload_too_large(raw: bytes | str) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        decode_json_object(raw)
    assert info.value.status_code == 413
    assert info.value.message == "Request body exceeds 256 KB"


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    with pytest.raises(ValidationFailed) as info:
        decode_json_object("[" * 200_000)
    assert info.value.message == "Request body must be valid JSON"
