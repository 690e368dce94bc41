"""The ApiKeyRepository contract, run against the in-memory fake and against PynamoDB on moto.

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskhook.container import container
from taskhook.model.errors import NotFound
from taskhook.ports import ApiKey, ApiKeyRepository
from tests.support.fakes import InMemoryApiKeyRepository

TEAM, OTHER_TEAM = "team-a", "team-b"
CREATED, REVOKED = "2024-01-15T10:30:00.000Z", "2024-02-01T08:00:00.000Z"


@pytest.fixture(params=["memory", "dynamo"])
def keys(request: pytest.FixtureRequest) -> Iterator[ApiKeyRepository]:
    if request.param == "memory":
        yield InMemoryApiKeyRepository()
    else:
        request.getfixturevalue("aws")
        yield container().api_key_repository


def make_key(n: int, team: str = TEAM, kind: str = "api", name: str | None = None) -> tuple[str, ApiKey]:
    """(the key's hash, the key)."""
    return f"hash-{team}-{n:03d}", ApiKey(key_id=f"key-{team}-{n:03d}", team_id=team,
                                          name=f"key {n}" if name is None else name,
                                          created_at=CREATED, kind=kind)


def by_id(keys: list[ApiKey]) -> list[ApiKey]:
    return sorted(keys, key=lambda k: k.key_id)


# ---- put / find_by_hash -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["api", "client"])
def test_put_then_find_by_hash_round_trips_every_field(keys: ApiKeyRepository, kind: str) -> None:
    key_hash, key = make_key(1, kind=kind)
    keys.put(key_hash, key)

    found = keys.find_by_hash(key_hash)

    assert found == key
    assert found is not None and found.kind == kind and found.revoked_at is None


def test_an_empty_name_comes_back_empty(keys: ApiKeyRepository) -> None:
    key_hash, key = make_key(2, name="")
    keys.put(key_hash, key)
    assert keys.find_by_hash(key_hash) == key


def test_an_empty_name_is_not_stored_as_an_empty_string(aws: object) -> None:
    """DynamoDB Local (LocalStack's DynamoDB) refuses an empty string in any attribute: POST /v1/keys
    with no name answered 500 there. The name is left out instead, and reads back as ""."""
    import boto3

    key_hash, key = make_key(3, name="")
    container().api_key_repository.put(key_hash, key)
    table = container().settings.api_keys_table
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"keyHash": {"S": key_hash}})["Item"]
    assert "name" not in item and all(value != {"S": ""} for value in item.values()), item
    assert container().api_key_repository.find_by_hash(key_hash) == key


def test_a_key_stored_revoked_comes_back_revoked(keys: ApiKeyRepository) -> None:
    key_hash, key = make_key(3, kind="client")
    revoked = ApiKey(key.key_id, key.team_id, key.name, key.created_at, revoked_at=REVOKED, kind="client")
    keys.put(key_hash, revoked)
    assert keys.find_by_hash(key_hash) == revoked


def test_find_by_an_unknown_hash_is_none(keys: ApiKeyRepository) -> None:
    keys.put(*make_key(4))
    assert keys.find_by_hash("hash-nobody") is None
    assert keys.find_by_hash(make_key(4)[1].key_id) is None  # the key id is not the hash


def test_put_under_the_same_hash_replaces_the_key(keys: ApiKeyRepository) -> None:
    key_hash, key = make_key(5)
    keys.put(key_hash, key)
    renamed = ApiKey(key.key_id, key.team_id, "renamed", key.created_at, kind="client")

    keys.put(key_hash, renamed)

    assert keys.find_by_hash(key_hash) == renamed
    assert keys.list_for_team(TEAM) == [renamed]


# ---- revoke -----------------------------------------------------------------------------------


def test_revoke_marks_the_key_and_returns_it(keys: ApiKeyRepository) -> None:
    key_hash, key = make_key(6, kind="client")
    other_hash, other = make_key(7, kind="client")
    keys.put(key_hash, key)
    keys.put(other_hash, other)

    revoked = keys.revoke(key.key_id, REVOKED)

    expected = ApiKey(key.key_id, TEAM, key.name, CREATED, revoked_at=REVOKED, kind="client")
    assert revoked == expected
    assert keys.find_by_hash(key_hash) == expected  # stored, found by its hash as before
    assert keys.find_by_hash(other_hash) == other  # only that key


def test_revoke_of_an_unknown_key_id_is_not_found_and_changes_nothing(keys: ApiKeyRepository) -> None:
    key_hash, key = make_key(8)
    keys.put(key_hash, key)

    with pytest.raises(NotFound) as raised:
        keys.revoke("key-nobody", REVOKED)
    with pytest.raises(NotFound):
        keys.revoke(key_hash, REVOKED)  # a hash is not a key id

    assert raised.value.status_code == 404
    assert raised.value.message == "API key not found"
    assert keys.find_by_hash(key_hash) == key


# ---- list_for_team ----------------------------------------------------------------------------


def test_list_for_team_shows_only_the_teams_keys_revoked_included(keys: ApiKeyRepository) -> None:
    mine = [make_key(n, kind="client" if n % 2 else "api") for n in range(4)]
    theirs = [make_key(n, team=OTHER_TEAM, kind="client") for n in range(2)]
    for key_hash, key in (*mine, *theirs):
        keys.put(key_hash, key)
    revoked = keys.revoke(mine[1][1].key_id, REVOKED)

    listed = keys.list_for_team(TEAM)

    assert by_id(listed) == by_id([mine[0][1], revoked, mine[2][1], mine[3][1]])
    assert [k.kind for k in by_id(listed)] == ["api", "client", "api", "client"]
    assert by_id(keys.list_for_team(OTHER_TEAM)) == by_id([k for _, k in theirs])
    assert keys.list_for_team("team-nobody") == []


# find_by_id: the live feed's re-check of a connection's credential
def test_find_by_id_returns_the_key_or_token_revoked_or_not(keys: ApiKeyRepository) -> None:
    key = ApiKey(key_id="key_aaaaaaaaaaaa", team_id=TEAM, name="ci", created_at=CREATED)
    token = ApiKey(key_id="cli_bbbbbbbbbbbb", team_id=TEAM, name="app", created_at=CREATED, kind="client")
    keys.put("hash-a", key)
    keys.put("hash-b", token)

    assert keys.find_by_id("key_aaaaaaaaaaaa") == key
    assert keys.find_by_id("cli_bbbbbbbbbbbb") == token
    assert keys.find_by_id("key_nobody") is None

    keys.revoke("key_aaaaaaaaaaaa", REVOKED)
    found = keys.find_by_id("key_aaaaaaaaaaaa")
    assert found is not None and found.revoked_at == REVOKED
