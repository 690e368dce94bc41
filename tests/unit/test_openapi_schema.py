"""The OpenAPI document is as strict as the server: every route the app serves is in it, and a
`POST /v1/tasks` body that the schema accepts is one the server accepts (ranges from model/limits.py).
Issue 11: `targetUrl` had no minLength or format and `/v1/webhooks/secret*` were missing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from taskhook.intake.openapi import build_openapi
from taskhook.intake.validation import parse_create_request
from taskhook.intake.views import v1_task
from taskhook.model import limits
from taskhook.model.errors import ValidationFailed
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

DOCUMENT = build_openapi()
URL = "https://api.example.com/webhook"


def request_validator() -> jsonschema.Draft202012Validator:
    schema = {"$ref": "#/components/schemas/CreateTaskRequest", "components": DOCUMENT["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def server_accepts(body: dict[str, Any]) -> bool:
    try:
        parse_create_request(body)
    except ValidationFailed:
        return False
    return True


def routes() -> set[tuple[str, str]]:
    from app import app  # noqa: PLC0415 - the Chalice app: every route it serves

    return {(path, method.lower()) for path, methods in app.routes.items() for method in methods}


def test_every_route_the_app_serves_is_documented() -> None:
    documented = {(path, method) for path, ops in DOCUMENT["paths"].items() for method in ops}
    html = {("/docs", "get"), ("/docs/{asset}", "get"),  # Swagger UI itself
            ("/admins/tasks", "get"), ("/admins/tasks/assets/{name}", "get"), ("/dashboard", "get")}  # the dashboard
    assert routes() - html <= documented
    assert ("/v1/webhooks/secret", "get") in documented
    assert ("/v1/webhooks/secret/rotate", "post") in documented


def test_target_url_is_a_non_empty_http_uri_of_bounded_length() -> None:
    prop = DOCUMENT["components"]["schemas"]["CreateTaskRequest"]["properties"]["targetUrl"]
    assert prop["type"] == "string" and prop["format"] == "uri"
    assert prop["minLength"] == 1 and prop["maxLength"] == limits.MAX_URL_LENGTH
    assert re.match(prop["pattern"], URL) and not re.match(prop["pattern"], "ftp://example.com/")


@pytest.mark.parametrize(("field", "low", "high"), [
    ("maxWaitTime", 1, limits.MAX_WAIT_TIME_LIMIT), ("timeout", 1, limits.TIMEOUT_LIMIT),
    ("maxRetries", 0, limits.MAX_RETRIES_LIMIT), ("priority", limits.PRIORITY_MIN, limits.PRIORITY_MAX),
])
def test_numeric_ranges_are_the_limits(field: str, low: int, high: int) -> None:
    prop = DOCUMENT["components"]["schemas"]["CreateTaskRequest"]["properties"][field]
    assert (prop["minimum"], prop["maximum"]) == (low, high)


def test_the_maximum_delay_is_documented() -> None:
    prop = DOCUMENT["components"]["schemas"]["CreateTaskRequest"]["properties"]["delayUntil"]
    assert f"{limits.MAX_DELAY_DAYS} days" in prop["description"]


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


# Bodies the server refuses: the schema must refuse them too (it was looser than the server).
REFUSED = [
    {"targetUrl": ""}, {"targetUrl": "not a url"}, {"targetUrl": "ftp://example.com/"},
    {"targetUrl": "https://user@example.com/"}, {"targetUrl": "https://exa mple.com/"},
    {"targetUrl": "https://example.com/" + "a" * limits.MAX_URL_LENGTH},
    {"targetUrl": URL, "onCompleteUrl": "mailto:ops@example.com"},
    {"targetUrl": URL, "maxWaitTime": 0}, {"targetUrl": URL, "maxWaitTime": limits.MAX_WAIT_TIME_LIMIT + 1},
    {"targetUrl": URL, "timeout": limits.TIMEOUT_LIMIT + 1}, {"targetUrl": URL, "maxRetries": 11},
    {"targetUrl": URL, "priority": 0}, {"targetUrl": URL, "priority": 11},
    {"targetUrl": URL, "headers": {"Bad Name": "x"}}, {"targetUrl": URL, "headers": {"X-A": "a\r\nb"}},
    {"targetUrl": URL, "delayUntil": "tomorrow"},
]
ACCEPTED = [
    {"targetUrl": URL},
    {"targetUrl": URL, "method": "PUT", "headers": {"X-Id": "1"}, "body": "{}", "maxWaitTime": 86400,
     "timeout": 300, "maxRetries": 10, "priority": 10, "retryBackoff": "linear", "onCompleteUrl": URL,
     "delayUntil": _in(limits.MAX_DELAY_DAYS - 1)},
]


@pytest.mark.parametrize("body", REFUSED, ids=lambda b: repr(b)[:60])
def test_what_the_server_refuses_the_schema_refuses(body: dict[str, Any]) -> None:
    assert not server_accepts(body)
    assert not request_validator().is_valid(body)


@pytest.mark.parametrize("body", ACCEPTED, ids=lambda b: repr(b)[:60])
def test_what_the_schema_accepts_here_the_server_accepts(body: dict[str, Any]) -> None:
    assert request_validator().is_valid(body)
    assert server_accepts(body)


def task_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Task", "components": DOCUMENT["components"]})


def test_a_task_as_the_api_shows_it_fits_the_task_schema() -> None:
    """schemathesis found it: GET /v1/tasks showed `notifications` as a list (Task.public()) while
    the schema, generated from the stored model, said an object of objects."""
    task = Task(
        id="t-1", teamId="team", kind="function", status=TaskStatus.COMPLETED, namespace="ns", name="job",
        args={"a": 1}, progress=100, result={"ok": True}, createdAt="2026-01-01T00:00:00.000Z",
        callbackUrl="https://example.com/cb",
        output={"key": "outputs/t-1/out.txt", "contentType": "text/plain", "size": 3, "filename": "out.txt"},
        notifications={"n1": {"url": "https://example.com/cb", "kind": "callback", "status": "retrying",
                              "taskStatus": "completed", "sequence": "12", "attempts": 2, "lastError": "boom"}},
    )
    view = v1_task(task, "https://bucket.example/out.txt?signature")
    assert isinstance(view["notifications"], list)
    errors = [e.message for e in task_validator().iter_errors(view)]
    assert errors == []
