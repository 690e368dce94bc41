"""The team signing-secret store contract (SecretStore: load / save), run against the in-memory
fake and against the DynamoDB Teams table on moto (encrypted with KMS: the tests at the end).

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.adapters.dynamo.team_secrets import CLEAR, SEALED, DynamoSecretStore
from taskhook.container import container
from taskhook.model.errors import Undecryptable
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
    return dynamo_store()


def dynamo_store() -> DynamoSecretStore:
    return DynamoSecretStore(container().client("dynamodb"), container().settings.teams_table, container().cipher)


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


# ---- at rest: the Teams table holds ciphertext only ---------------------------------------------

def raw_item(team_id: str) -> dict[str, Any]:
    client, table = container().client("dynamodb"), container().settings.teams_table
    return dict(client.get_item(TableName=table, Key={"teamId": {"S": team_id}}, ConsistentRead=True)["Item"])


def test_the_stored_item_holds_no_secret_in_clear(aws: object) -> None:
    dynamo_store().save(TEAM, [NEW, OLD])

    item = repr(raw_item(TEAM))

    for secret in (NEW, OLD):
        assert secret.secret not in item
        assert secret.secret.removeprefix("whsec_") not in item
    assert set(raw_item(TEAM)) == {"teamId", SEALED}


def test_a_ciphertext_copied_to_another_teams_row_does_not_decrypt(aws: object) -> None:
    store = dynamo_store()
    store.save(TEAM, [NEW])
    store.save(OTHER_TEAM, [OLD])
    client, table = container().client("dynamodb"), container().settings.teams_table
    client.put_item(TableName=table, Item={**raw_item(TEAM), "teamId": {"S": OTHER_TEAM}})

    with pytest.raises(Undecryptable):
        store.load(OTHER_TEAM)
    assert store.load(TEAM) == [NEW]


def put_clear_row(team_id: str, secrets: list[SigningSecret]) -> None:
    """A row as Taskhook wrote it before secrets were encrypted at rest."""
    values = [{"M": {"secret": {"S": s.secret}, "createdAt": {"S": s.created_at},
                     **({"expiresAt": {"S": s.expires_at}} if s.expires_at else {})}} for s in secrets]
    container().client("dynamodb").put_item(TableName=container().settings.teams_table,
                                            Item={"teamId": {"S": team_id}, CLEAR: {"L": values}})


def test_a_clear_row_of_an_older_version_is_read_and_rewritten_encrypted(aws: object) -> None:
    put_clear_row(TEAM, [NEW, OLD])
    store = dynamo_store()

    assert store.load(TEAM) == [NEW, OLD]

    item = raw_item(TEAM)
    assert set(item) == {"teamId", SEALED}
    assert NEW.secret not in repr(item) and OLD.secret not in repr(item)
    assert store.load(TEAM) == [NEW, OLD]


def test_the_migration_never_overwrites_a_save_that_came_first(aws: object) -> None:
    put_clear_row(TEAM, [OLD])
    store = dynamo_store()
    stale = store.load(TEAM)  # migrated here; now a rotation saves, then a late reader migrates
    store.save(TEAM, [NEW, OLD])

    store._migrate(TEAM, stale)  # noqa: SLF001 - the reader that read the clear row before the save

    assert store.load(TEAM) == [NEW, OLD]
