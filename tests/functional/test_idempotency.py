"""Idempotency-Key support: the Powertools adapter against moto's DynamoDB, and TaskService on top."""

from __future__ import annotations

import time

import pytest

from taskhook.adapters.dynamo.idempotency import IDEMPOTENCY_TTL_SECONDS
from taskhook.container import container
from taskhook.intake.validation import parse_create_request
from taskhook.model.errors import Conflict
from taskhook.model.listing import ListQuery
from tests.support.fakes import InMemoryIdempotency

from .conftest import Provisioned

URL = "https://api.example.com/webhook"


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"value-{self.calls}"


@pytest.fixture(params=["powertools", "memory"])
def idempotency(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        return InMemoryIdempotency()
    request.getfixturevalue("aws")
    return container().idempotency


def test_same_key_and_fingerprint_returns_the_first_value_replayed(idempotency) -> None:  # type: ignore[no-untyped-def]
    action = Counter()
    assert idempotency.run_once("team-a", "key-1", {"targetUrl": URL}, action) == ("value-1", False)
    assert idempotency.run_once("team-a", "key-1", {"targetUrl": URL}, action) == ("value-1", True)
    assert idempotency.run_once("team-a", "key-1", {"targetUrl": URL}, action) == ("value-1", True)
    assert action.calls == 1


def test_same_key_with_another_fingerprint_is_a_conflict(idempotency) -> None:  # type: ignore[no-untyped-def]
    action = Counter()
    idempotency.run_once("team-a", "key-1", {"targetUrl": URL}, action)

    with pytest.raises(Conflict) as raised:
        idempotency.run_once("team-a", "key-1", {"targetUrl": URL + "/other"}, action)

    assert raised.value.status_code == 409
    assert "Idempotency-Key" in raised.value.message
    assert action.calls == 1
    # The first result is still there for the original request.
    assert idempotency.run_once("team-a", "key-1", {"targetUrl": URL}, action) == ("value-1", True)


def test_keys_are_scoped_per_team_and_per_key(idempotency) -> None:  # type: ignore[no-untyped-def]
    action = Counter()
    assert idempotency.run_once("team-a", "key-1", {"x": 1}, action) == ("value-1", False)
    assert idempotency.run_once("team-b", "key-1", {"x": 1}, action) == ("value-2", False)
    assert idempotency.run_once("team-a", "key-2", {"x": 1}, action) == ("value-3", False)
    assert idempotency.run_once("team-b", "key-1", {"x": 1}, action) == ("value-2", True)
    assert action.calls == 3


def test_a_failed_action_is_not_remembered(idempotency) -> None:  # type: ignore[no-untyped-def]
    def boom() -> str:
        raise RuntimeError("dynamo down")

    with pytest.raises(RuntimeError):
        idempotency.run_once("team-a", "key-1", {"x": 1}, boom)

    assert idempotency.run_once("team-a", "key-1", {"x": 1}, Counter()) == ("value-1", False)


def test_powertools_record_lives_in_the_idempotency_table_with_a_24h_expiry(aws: Provisioned) -> None:
    container().idempotency.run_once("team-a", "key-1", {"x": 1}, Counter())

    items = aws.client("dynamodb").scan(TableName=aws.env["IDEMPOTENCY_TABLE"])["Items"]

    assert len(items) == 1
    item = items[0]
    assert item["status"] == {"S": "COMPLETED"}
    expiration = int(item["expiration"]["N"])
    assert abs(expiration - (time.time() + IDEMPOTENCY_TTL_SECONDS)) < 120
    assert "value-1" in item["data"]["S"]


def test_create_idempotent_stores_one_task(aws: Provisioned, counted_from_rows: None) -> None:
    service = container().task_service
    request = parse_create_request({"targetUrl": URL, "priority": 8})

    first, created = service.create_idempotent("team-a", "key-1", request, container().idempotency)
    again, created_again = service.create_idempotent(
        "team-a", "key-1", parse_create_request({"targetUrl": URL, "priority": 8}), container().idempotency
    )

    assert created is True and created_again is False
    assert again == first
    page, total = service.list("team-a", ListQuery())
    assert (page.tasks, total) == ([first], 1)
    with pytest.raises(Conflict):
        service.create_idempotent(
            "team-a", "key-1", parse_create_request({"targetUrl": URL, "priority": 9}), container().idempotency
        )
    assert service.list("team-a", ListQuery())[1] == 1
