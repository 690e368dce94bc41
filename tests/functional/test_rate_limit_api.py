"""The team rate limit through the API Lambda's entry point (app.app, API Gateway events) against
moto: the 429's body and headers, the RateLimit-* headers on admitted answers, nothing stored for a
refused request (an Idempotency-Key included), every authenticated route, and no write at all for a
team without a limit."""

from __future__ import annotations

import copy
import json
import math
import re
import time
from typing import Any

import app as lambdas
from taskhook.container import container, reset_container
from taskhook.model.plan import TeamPlan

from .conftest import Provisioned
from .test_handlers import api_key, connect_event, context, create_task_event, load_event, set_header

SEED_429 = {"error": "Rate limit exceeded. Upgrade your plan for higher limits."}
RATE_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    answer = lambdas.app(copy.deepcopy(event), context("ApiFunction"))
    try:
        body = json.loads(answer["body"]) if answer.get("body") else {}
    except ValueError:  # a page (the docs), not JSON
        body = {"page": str(answer["body"])[:80]}
    return answer["statusCode"], dict(answer.get("headers") or {}), body


def limit(team: str, rps: float, burst: int) -> None:
    container().plan_store.save(team, TeamPlan(rps=rps, burst=burst))


def items(aws: Provisioned, table: str) -> int:
    return int(aws.client("dynamodb").scan(TableName=aws.env[table], Select="COUNT")["Count"])


def test_over_the_limit_a_create_is_the_seeds_429_with_its_headers_and_stores_nothing(aws: Provisioned) -> None:
    key = api_key("limited")
    limit("limited", rps=0.01, burst=2)  # two at once, then one every 100 s

    started = time.monotonic()
    answers = [invoke(create_task_event(key)) for _ in range(3)]
    elapsed = time.monotonic() - started  # the third waits for the token the first two left: 100 s after them

    assert [status for status, _, _ in answers] == [201, 201, 429]
    for (_, headers, _), remaining in zip(answers[:2], ["1", "0"], strict=True):
        assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == remaining
        assert int(headers["RateLimit-Reset"]) >= 1
    status, headers, body = answers[2]
    assert body == SEED_429
    assert headers["Content-Type"] == "application/json"
    assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == "0"
    # (a loaded machine took 3 s over the three requests: Retry-After 97)
    assert 99 - math.ceil(elapsed) <= int(headers["Retry-After"]) <= 100
    assert int(headers["RateLimit-Reset"]) >= int(headers["Retry-After"])
    assert items(aws, "TASKS_TABLE") == 2


def test_a_refused_request_does_not_take_its_idempotency_key(aws: Provisioned) -> None:
    key = api_key("limited")
    limit("limited", rps=0.01, burst=1)
    assert invoke(create_task_event(key))[0] == 201
    event = create_task_event(key)
    set_header(event, "Idempotency-Key", "order-7")

    assert invoke(event)[0] == 429
    assert items(aws, "IDEMPOTENCY_TABLE") == 0

    limit("limited", rps=0, burst=0)  # the operator lifts the limit (a new container: no cache)
    reset_container()
    status, headers, body = invoke(event)
    assert status == 201 and not RATE_HEADERS & set(headers)  # the first try, not a replay nor a 409
    assert invoke(event)[0] == 200 and invoke(event)[2]["task"]["id"] == body["task"]["id"]


def test_every_authenticated_route_is_limited_and_another_team_is_not(aws: Provisioned) -> None:
    key, other = api_key("limited"), api_key("other")
    limit("limited", rps=0.01, burst=1)
    limit("other", rps=0.01, burst=5)
    events = [load_event("api_gateway_get_task.json"), load_event("api_gateway_webhook_secret.json"),
              create_task_event(key)]
    for event in events:
        set_header(event, "Authorization", f"Bearer {key}")
    statuses = [invoke(event)[0] for event in events]
    assert statuses[0] in (403, 404) and statuses[1:] == [429, 429]  # the first spent the only token

    for event in events:
        set_header(event, "Authorization", f"Bearer {other}")
    assert [invoke(event)[0] for event in events][1:] == [200, 201]


def test_a_team_without_a_limit_gets_no_headers_and_costs_no_write(aws: Provisioned) -> None:
    key = api_key("free")
    for _ in range(5):
        status, headers, _ = invoke(create_task_event(key))
        assert status == 201 and not RATE_HEADERS & set(headers)
    assert items(aws, "LIMITS_TABLE") == 0


def test_an_unknown_key_is_401_before_any_limit(aws: Provisioned) -> None:
    status, headers, body = invoke(create_task_event("th_not-a-key"))
    assert (status, body) == (401, {"error": "Invalid or revoked API key"})
    assert not RATE_HEADERS & set(headers)
    assert items(aws, "LIMITS_TABLE") == 0


def test_a_websocket_connect_counts_against_the_limit_and_a_refused_one_opens_nothing(aws: Provisioned) -> None:
    key = api_key("limited")
    limit("limited", rps=0.01, burst=2)
    assert lambdas.ws_connect(connect_event(key), context("WsConnectFunction"))["statusCode"] == 200
    assert invoke(create_task_event(key))[0] == 201
    before = items(aws, "CONNECTIONS_TABLE")

    answer = lambdas.ws_connect(connect_event(key), context("WsConnectFunction"))

    assert answer["statusCode"] == 429 and json.loads(answer["body"]) == SEED_429
    assert int(answer["headers"]["Retry-After"]) >= 1 and answer["headers"]["RateLimit-Remaining"] == "0"
    assert items(aws, "CONNECTIONS_TABLE") == before


# The callback route takes no key (its one-time URL is the credential): there is no team to limit.
PUBLIC_ROUTES = {"/health", "/openapi.json", "/docs", "/docs/{asset}", "/v1/callbacks/{task_id}/{secret}",
                 "/admins/tasks", "/admins/tasks/assets/{name}", "/dashboard"}  # the dashboard's static files


def route_event(path: str, method: str, key: str) -> dict[str, Any]:
    """An API Gateway event for one of the app's routes, path parameters filled with placeholders."""
    event = load_event("api_gateway_get_task.json")
    names = re.findall(r"{(\w+)}", path)
    parameters = {name: f"x-{name}" for name in names}
    concrete = path
    for name, value in parameters.items():
        concrete = concrete.replace("{" + name + "}", value)
    event.update(resource=path, path=concrete, httpMethod=method, pathParameters=parameters or None,
                 body="{}" if method in ("POST", "PUT") else None)
    event["requestContext"].update(resourcePath=path, httpMethod=method, path=concrete)
    set_header(event, "Authorization", f"Bearer {key}")
    set_header(event, "Content-Type", "application/json")
    return event


def test_every_route_but_the_public_ones_answers_429_over_the_limit(aws: Provisioned) -> None:
    """Whatever the route, present or added later: over the limit, the seed's 429 and nothing else
    (a route that forgot functions/auth.authenticated would answer something else here)."""
    key = api_key("limited")
    limit("limited", rps=0.001, burst=1)
    assert invoke(create_task_event(key))[0] == 201  # the only token
    routes = [(path, method) for path, methods in lambdas.app.routes.items() for method in methods
              if path not in PUBLIC_ROUTES]
    assert len(routes) >= 16
    for path, method in routes:
        status, headers, body = invoke(route_event(path, method, key))
        assert (status, body) == (429, SEED_429), (path, method, status, body)
        assert int(headers["Retry-After"]) >= 1, (path, method)
    assert items(aws, "TASKS_TABLE") == 1
