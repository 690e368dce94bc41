"""ApiKeyRepository.find_by_id (the live feed's re-check of a connection's credential), run
against the in-memory fake and against PynamoDB on moto: the same body for both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskhook.container import container
from taskhook.ports import ApiKey, ApiKeyRepository
from tests.support.fakes import InMemoryApiKeyRepository

CREATED, REVOKED = "2024-01-15T10:30:00.000Z", "2024-02-01T08:00:00.000Z"


@pytest.fixture(params=["memory", "dynamo"])
def keys(request: pytest.FixtureRequest) -> Iterator[ApiKeyRepository]:
    if request.param == "memory":
        yield InMemoryApiKeyRepository()
    else:
        request.getfixturevalue("aws")
        yield container().api_key_repository


def test_find_by_id_returns_the_key_or_token_revoked_or_not(keys: ApiKeyRepository) -> None:
    key = ApiKey(key_id="key_aaaaaaaaaaaa", team_id="team-a", name="ci", created_at=CREATED)
    token = ApiKey(key_id="cli_bbbbbbbbbbbb", team_id="team-a", name="app", created_at=CREATED, kind="client")
    keys.put("hash-a", key)
    keys.put("hash-b", token)

    assert keys.find_by_id("key_aaaaaaaaaaaa") == key
    assert keys.find_by_id("cli_bbbbbbbbbbbb") == token
    assert keys.find_by_id("key_nobody") is None

    keys.revoke("key_aaaaaaaaaaaa", REVOKED)
    found = keys.find_by_id("key_aaaaaaaaaaaa")
    assert found is not None and found.revoked_at == REVOKED
