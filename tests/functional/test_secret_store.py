"""The team signing-secret store contract (SecretStore: load / save, each save conditional on the
version read), run against the in-memory fake and against the DynamoDB Teams table on moto
(encrypted with KMS, rows of older versions, and callers at once on real threads: the tests at the end).

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from taskhook.adapters.dynamo.team_secrets import CLEAR, SEALED, VERSION, DynamoSecretStore
from taskhook.container import container
from taskhook.model.errors import Conflict, Undecryptable
from taskhook.notify.secrets import SigningSecret, StoredSecrets, TeamSecretsService
from taskhook.ports import SecretStore
from tests.support.fakes import InMemorySecretStore

TEAM, OTHER_TEAM = "team-a", "team-b"
T = TypeVar("T")
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


def test_load_of_an_unknown_team_is_empty_at_version_0(secrets: SecretStore) -> None:
    assert secrets.load("team-nobody") == StoredSecrets([], 0)


def test_save_then_load_round_trips_in_order(secrets: SecretStore) -> None:
    version = secrets.save(TEAM, [NEW, OLD, OLDER])

    loaded = secrets.load(TEAM)

    assert loaded == StoredSecrets([NEW, OLD, OLDER], version)
    assert loaded.secrets[0].expires_at is None  # absent stays absent
    assert [s.expires_at for s in loaded.secrets[1:]] == [OLD.expires_at, OLDER.expires_at]


def test_order_is_kept_as_saved_not_sorted(secrets: SecretStore) -> None:
    secrets.save(TEAM, [OLDER, NEW, OLD])
    assert secrets.load(TEAM).secrets == [OLDER, NEW, OLD]


def test_a_save_naming_the_version_read_replaces_the_whole_list(secrets: SecretStore) -> None:
    first = secrets.save(TEAM, [OLD, OLDER])
    second = secrets.save(TEAM, [NEW], secrets.load(TEAM).version)

    assert second > first > 0
    assert secrets.load(TEAM) == StoredSecrets([NEW], second)


def test_saving_an_empty_list_leaves_none(secrets: SecretStore) -> None:
    version = secrets.save(TEAM, [NEW])
    version = secrets.save(TEAM, [], version)
    assert secrets.load(TEAM) == StoredSecrets([], version)


def test_teams_are_kept_apart(secrets: SecretStore) -> None:
    secrets.save(TEAM, [NEW])
    secrets.save(OTHER_TEAM, [OLD, OLDER])  # a first save: the other team's versions are its own

    assert secrets.load(TEAM).secrets == [NEW]
    assert secrets.load(OTHER_TEAM).secrets == [OLD, OLDER]


def test_the_stored_list_is_not_the_callers(secrets: SecretStore) -> None:
    saved = [NEW]
    secrets.save(TEAM, saved)
    saved.append(OLD)  # the caller's list changes after the save

    loaded = secrets.load(TEAM).secrets
    loaded.append(OLDER)  # and the loaded one is the caller's to change

    assert secrets.load(TEAM).secrets == [NEW]


# ---- conditional saves: of two callers that read the same version, one write lands ---------------

def test_a_second_first_save_conflicts_and_changes_nothing(secrets: SecretStore) -> None:
    version = secrets.save(TEAM, [NEW])  # both read "none yet" (version 0); this one landed first

    with pytest.raises(Conflict):
        secrets.save(TEAM, [OLD])

    assert secrets.load(TEAM) == StoredSecrets([NEW], version)


def test_a_save_naming_a_version_that_moved_on_conflicts_and_changes_nothing(secrets: SecretStore) -> None:
    read = secrets.save(TEAM, [OLD])
    landed = secrets.save(TEAM, [NEW, OLD], read)  # another caller, from the same read

    with pytest.raises(Conflict):
        secrets.save(TEAM, [OLDER, OLD], read)
    with pytest.raises(Conflict):
        secrets.save(TEAM, [OLDER, OLD], landed + 1)  # nor a version not reached yet

    assert secrets.load(TEAM) == StoredSecrets([NEW, OLD], landed)
    assert secrets.save(TEAM, [OLDER], landed) == landed + 1  # the version read now is the one to name


def test_a_save_naming_a_version_of_a_team_with_none_conflicts(secrets: SecretStore) -> None:
    with pytest.raises(Conflict):
        secrets.save(TEAM, [NEW], 1)
    assert secrets.load(TEAM) == StoredSecrets([], 0)


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
    assert set(raw_item(TEAM)) == {"teamId", SEALED, VERSION}
    assert raw_item(TEAM)[VERSION] == {"N": "1"}


def test_a_ciphertext_copied_to_another_teams_row_does_not_decrypt(aws: object) -> None:
    store = dynamo_store()
    store.save(TEAM, [NEW])
    store.save(OTHER_TEAM, [OLD])
    client, table = container().client("dynamodb"), container().settings.teams_table
    client.put_item(TableName=table, Item={**raw_item(TEAM), "teamId": {"S": OTHER_TEAM}})

    with pytest.raises(Undecryptable):
        store.load(OTHER_TEAM)
    assert store.load(TEAM).secrets == [NEW]


def put_clear_row(team_id: str, secrets: list[SigningSecret]) -> None:
    """A row as Taskhook wrote it before secrets were encrypted at rest."""
    values = [{"M": {"secret": {"S": s.secret}, "createdAt": {"S": s.created_at},
                     **({"expiresAt": {"S": s.expires_at}} if s.expires_at else {})}} for s in secrets]
    container().client("dynamodb").put_item(TableName=container().settings.teams_table,
                                            Item={"teamId": {"S": team_id}, CLEAR: {"L": values}})


def test_a_clear_row_of_an_older_version_is_read_and_rewritten_encrypted(aws: object) -> None:
    put_clear_row(TEAM, [NEW, OLD])
    store = dynamo_store()

    assert store.load(TEAM) == StoredSecrets([NEW, OLD], 0)

    item = raw_item(TEAM)
    assert set(item) == {"teamId", SEALED}  # the same list: no new version
    assert NEW.secret not in repr(item) and OLD.secret not in repr(item)
    assert store.load(TEAM) == StoredSecrets([NEW, OLD], 0)


def test_a_clear_row_takes_one_first_save_and_a_second_conflicts(aws: object) -> None:
    put_clear_row(TEAM, [OLD])
    store = dynamo_store()
    put_clear_row(OTHER_TEAM, [OLDER])

    version = store.save(TEAM, [NEW, OLD], store.load(TEAM).version)  # migrated on the read, then saved
    with pytest.raises(Conflict):
        store.save(TEAM, [OLDER, OLD], 0)  # another caller that read the row before versions

    assert store.load(TEAM) == StoredSecrets([NEW, OLD], version)
    assert set(raw_item(TEAM)) == {"teamId", SEALED, VERSION}
    store.save(OTHER_TEAM, [NEW, OLDER], 0)  # a clear row saved before any read migrates it
    assert set(raw_item(OTHER_TEAM)) == {"teamId", SEALED, VERSION}
    assert store.load(OTHER_TEAM) == StoredSecrets([NEW, OLDER], 1)


def test_a_sealed_row_without_a_version_takes_one_first_save(aws: object) -> None:
    """A row the first encrypting release wrote (before versions): sealed, no version."""
    store = dynamo_store()
    store.save(TEAM, [OLD])
    container().client("dynamodb").update_item(TableName=container().settings.teams_table,
                                               Key={"teamId": {"S": TEAM}}, UpdateExpression="REMOVE #v",
                                               ExpressionAttributeNames={"#v": VERSION})
    assert store.load(TEAM) == StoredSecrets([OLD], 0)

    version = store.save(TEAM, [NEW, OLD], 0)
    with pytest.raises(Conflict):
        store.save(TEAM, [OLDER, OLD], 0)

    assert store.load(TEAM) == StoredSecrets([NEW, OLD], version)


def test_rotating_a_clear_row_keeps_its_secret_in_force(aws: object) -> None:
    put_clear_row(TEAM, [NEW])

    rotated = TeamSecretsService(dynamo_store()).rotate(TEAM)

    assert [s.secret for s in rotated][1:] == [NEW.secret] and rotated[1].expires_at
    assert dynamo_store().load(TEAM) == StoredSecrets(rotated, 1)


def test_the_migration_never_overwrites_a_save_that_came_first(aws: object) -> None:
    put_clear_row(TEAM, [OLD])
    store = dynamo_store()
    stale = store.load(TEAM)  # migrated here; now a rotation saves, then a late reader migrates
    version = store.save(TEAM, [NEW, OLD], stale.version)

    store._migrate(TEAM, stale.secrets)  # noqa: SLF001 - the reader that read the clear row before the save

    assert store.load(TEAM) == StoredSecrets([NEW, OLD], version)


# ---- callers at once, on moto with real threads (issue 11 review) -------------------------------

@pytest.fixture
def atomic_writes(atomic_dynamo_writes: None) -> None:
    """moto's writes one at a time, as DynamoDB's (conftest.py): what is left to race is ours (the
    loads, KMS, and the conditional save)."""


def at_once(count: int, call: Callable[[], T]) -> list[T]:
    """`call` from `count` threads released together; every result (or the first error)."""
    start = threading.Barrier(count)

    def run() -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [f.result() for f in [pool.submit(run) for _ in range(count)]]


def test_sixteen_first_uses_at_once_hand_out_one_secret(atomic_writes: None) -> None:
    shown = at_once(16, lambda: TeamSecretsService(dynamo_store()).current(TEAM))

    assert len({tuple(s) for s in shown}) == 1  # every caller got the same secret
    assert TeamSecretsService(dynamo_store()).current(TEAM) == shown[0]  # and it is the one stored


def test_four_rotations_at_once_all_stay_in_force_the_newest_signing(atomic_writes: None) -> None:
    (first,) = TeamSecretsService(dynamo_store()).current(TEAM)

    returned = at_once(4, lambda: TeamSecretsService(dynamo_store()).rotate(TEAM))

    stored = TeamSecretsService(dynamo_store()).current(TEAM)
    assert {s.secret for s in stored} == {r[0].secret for r in returned} | {first.secret}  # none lost
    assert stored[0].expires_at is None and all(s.expires_at for s in stored[1:])  # the newest signs
    # Each save built on the one before: the callers returned lists of 2, 3, 4 and 5 secrets, each
    # the one it stored (the last is what is stored now), each new secret in force.
    assert sorted(len(r) for r in returned) == [2, 3, 4, 5]
    assert max(returned, key=len) == stored
    for r in returned:
        assert r[0].expires_at is None and r[-1].secret == first.secret
        assert r[1:] == stored[-len(r) + 1:]
