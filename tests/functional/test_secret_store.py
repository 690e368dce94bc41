"""The team signing-secret store contract (SecretStore: load / save), run against the in-memory
fake and against the DynamoDB Teams table on moto.

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

import pytest

from taskhook.adapters.dynamo.team_secrets import DynamoSecretStore
from taskhook.container import container
from taskhook.notify.secrets import SigningSecret
from taskhook.ports import SecretStore
from tests.support.fakes import InMemorySecretStore

TEAM, OTHER_TEAM = "team-a", "team-b"
NEW = SigningSecret("whsec_new", "2024-03-01T00:00:00.000Z")
OLD = SigningSecret("whsec_old", "2024-01-01T00:00:00.000Z", "2024-03-02T00:00:00.000Z")
OLDER = SigningSecret("whsec_older", "2023-06-01T00:00:00.000Z", "2024-01-02T00:00:00.000Z")


@pytest.fixture(params=["memory", "dynamo"])
def secrets(request: pytest.FixtureRequest) -> SecretStore:
    if request.param == "memory":
        return InMemorySecretStore()
    request.getfixturevalue("aws")
    return DynamoSecretStore(container().client("dynamodb"), container().settings.teams_table)


def test_load_of_an_unknown_team_is_empty(secrets: SecretStore) -> None:
    assert secrets.load("team-nobody") == []


def test_save_then_load_round_trips_in_order(secrets: SecretStore) -> None:
    secrets.save(TEAM, [NEW, OLD, OLDER])

    loaded = secrets.load(TEAM)

    assert loaded == [NEW, OLD, OLDER]
    assert loaded[0].expires_at is None  # absent stays absent
    assert [s.expires_at for s in loaded[1:]] == [OLD.expires_at, OLDER.expires_at]


def test_order_is_kept_as_saved_not_sorted(secrets: SecretStore) -> None:
    secrets.save(TEAM, [OLDER, NEW, OLD])
    assert secrets.load(TEAM) == [OLDER, NEW, OLD]


def test_save_replaces_the_whole_list(secrets: SecretStore) -> None:
    secrets.save(TEAM, [OLD, OLDER])
    secrets.save(TEAM, [NEW])
    assert secrets.load(TEAM) == [NEW]


def test_saving_an_empty_list_leaves_none(secrets: SecretStore) -> None:
    secrets.save(TEAM, [NEW])
    secrets.save(TEAM, [])
    assert secrets.load(TEAM) == []


def test_teams_are_kept_apart(secrets: SecretStore) -> None:
    secrets.save(TEAM, [NEW])
    secrets.save(OTHER_TEAM, [OLD, OLDER])

    assert secrets.load(TEAM) == [NEW]
    assert secrets.load(OTHER_TEAM) == [OLD, OLDER]


def test_the_stored_list_is_not_the_callers(secrets: SecretStore) -> None:
    saved = [NEW]
    secrets.save(TEAM, saved)
    saved.append(OLD)  # the caller's list changes after the save

    loaded = secrets.load(TEAM)
    loaded.append(OLDER)  # and the loaded one is the caller's to change

    assert secrets.load(TEAM) == [NEW]
