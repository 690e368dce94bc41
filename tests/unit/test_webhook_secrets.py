"""Rotation of a team's webhook signing secrets: every superseded secret stays valid for its full
overlap (ROTATION_OVERLAP from the moment it was superseded), up to MAX_SECRETS_IN_FORCE at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from taskhook.model.clock import iso
from taskhook.model.errors import Busy, Conflict
from taskhook.notify.secrets import (
    MAX_SECRETS_IN_FORCE,
    ROTATION_OVERLAP,
    SAVE_ATTEMPTS,
    SigningSecret,
    StoredSecrets,
    TeamSecretsService,
)
from tests.support.fakes import InMemorySecretStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def service(clock: Clock) -> TeamSecretsService:
    return TeamSecretsService(InMemorySecretStore(), clock=clock)


def test_a_second_rotation_keeps_the_first_secret_for_its_full_overlap(clock: Clock,
                                                                        service: TeamSecretsService) -> None:
    (first,) = service.current("acme")
    clock.now = T0 + timedelta(hours=1)
    second, _ = service.rotate("acme")
    clock.now = T0 + timedelta(hours=2)
    rotated = service.rotate("acme")

    third = rotated[0]
    assert [s.secret for s in rotated] == [third.secret, second.secret, first.secret]
    assert [s.expires_at for s in rotated] == [None, iso(T0 + timedelta(hours=2) + ROTATION_OVERLAP),
                                               iso(T0 + timedelta(hours=1) + ROTATION_OVERLAP)]
    assert service.signing_keys("acme") == [third.secret, second.secret, first.secret]

    clock.now = T0 + timedelta(hours=1) + ROTATION_OVERLAP - SECOND  # the first's last second
    assert service.signing_keys("acme") == [third.secret, second.secret, first.secret]
    clock.now = T0 + timedelta(hours=1) + ROTATION_OVERLAP + SECOND
    assert service.signing_keys("acme") == [third.secret, second.secret]
    clock.now = T0 + timedelta(hours=2) + ROTATION_OVERLAP + SECOND
    assert service.signing_keys("acme") == [third.secret]


def test_a_rotation_never_shortens_an_earlier_overlap(clock: Clock, service: TeamSecretsService) -> None:
    service.current("acme")
    service.rotate("acme")
    expiry = service.current("acme")[1].expires_at
    clock.now = T0 + timedelta(hours=3)
    service.rotate("acme")
    assert service.current("acme")[2].expires_at == expiry


def test_expired_secrets_are_dropped_at_the_next_rotation(clock: Clock, service: TeamSecretsService) -> None:
    service.current("acme")
    service.rotate("acme")
    clock.now = T0 + ROTATION_OVERLAP + SECOND
    rotated = service.rotate("acme")
    assert len(rotated) == 2  # the new one and the one it superseded; the expired one is gone
    assert len(service.store.load("acme").secrets) == 2


def test_rotations_past_the_cap_are_refused_and_change_nothing(clock: Clock, service: TeamSecretsService) -> None:
    service.current("acme")
    for minute in range(1, MAX_SECRETS_IN_FORCE):
        clock.now = T0 + timedelta(minutes=minute)
        service.rotate("acme")
    before = service.current("acme")
    assert len(before) == MAX_SECRETS_IN_FORCE

    clock.now = T0 + timedelta(minutes=MAX_SECRETS_IN_FORCE)
    with pytest.raises(Conflict) as refused:
        service.rotate("acme")
    oldest_expiry = iso(T0 + timedelta(minutes=1) + ROTATION_OVERLAP)
    assert f"at most {MAX_SECRETS_IN_FORCE} signing secrets" in refused.value.message
    assert oldest_expiry in refused.value.message
    assert service.current("acme") == before

    clock.now = T0 + timedelta(minutes=1) + ROTATION_OVERLAP + SECOND  # the oldest previous one expired
    assert len(service.rotate("acme")) == MAX_SECRETS_IN_FORCE


# ---- two callers at once: optimistic concurrency on the team's row --------------------------------
# Issue 11 review: the store's save was unconditional and the service read, then wrote, so of two
# callers at once only the last write survived: 16 first-time `GET /v1/webhooks/secret` returned 16
# different secrets (one kept), and a rotation could hand out a "signing" secret never in force.

class Meanwhile:
    """The store, where `then` runs once right after the next load: another caller's whole request
    lands between this caller's load and its save (what two Lambdas at once can do)."""

    def __init__(self, store: InMemorySecretStore, then: Callable[[], object]) -> None:
        self.store = store
        self.then: Callable[[], object] | None = then
        self.loads = 0

    def load(self, team_id: str) -> StoredSecrets:
        stored = self.store.load(team_id)
        self.loads += 1
        if self.then is not None:
            then, self.then = self.then, None
            then()
        return stored

    def save(self, team_id: str, secrets: list[SigningSecret], seen: int = 0) -> int:
        return self.store.save(team_id, secrets, seen)


def in_force(store: InMemorySecretStore, clock: Clock) -> list[SigningSecret]:
    return TeamSecretsService(store, clock=clock).current("acme")


def test_two_first_uses_at_once_hand_out_one_secret(clock: Clock) -> None:
    store = InMemorySecretStore()
    other = TeamSecretsService(store, clock=clock)
    theirs: list[list[SigningSecret]] = []
    racing = Meanwhile(store, lambda: theirs.append(other.current("acme")))

    mine = TeamSecretsService(racing, clock=clock).current("acme")

    (first,) = theirs[0]
    assert mine == [first]  # the one the other caller stored first, not a second one
    assert in_force(store, clock) == [first]
    assert racing.loads == 2  # it lost the first write and read what won


def test_first_use_by_the_deliverer_and_a_read_at_once_agree_on_the_secret(clock: Clock) -> None:
    store = InMemorySecretStore()
    reader = TeamSecretsService(store, clock=clock)
    shown: list[list[SigningSecret]] = []
    racing = Meanwhile(store, lambda: shown.append(reader.current("acme")))

    signs_with = TeamSecretsService(racing, clock=clock).signing_keys("acme")

    assert signs_with == [s.secret for s in shown[0]]  # the receiver holds the secret that signs


def test_two_rotations_at_once_keep_both_new_secrets_each_as_stored(clock: Clock) -> None:
    store = InMemorySecretStore()
    (first,) = TeamSecretsService(store, clock=clock).current("acme")
    clock.now = T0 + timedelta(hours=1)
    other = TeamSecretsService(store, clock=clock)
    theirs: list[list[SigningSecret]] = []
    racing = Meanwhile(store, lambda: theirs.append(other.rotate("acme")))

    mine = TeamSecretsService(racing, clock=clock).rotate("acme")

    their_new, their_old = theirs[0]
    assert their_old.secret == first.secret
    assert [s.secret for s in mine] == [mine[0].secret, their_new.secret, first.secret]
    assert mine[0].expires_at is None  # the newest signs
    overlap = iso(T0 + timedelta(hours=1) + ROTATION_OVERLAP)
    assert [s.expires_at for s in mine[1:]] == [overlap, overlap]  # both superseded keep their overlap
    assert in_force(store, clock) == mine  # what this caller returned is what is stored
    assert racing.loads == 2


def test_a_rotation_that_lost_the_race_still_respects_the_cap(clock: Clock) -> None:
    store = InMemorySecretStore()
    service = TeamSecretsService(store, clock=clock)
    service.current("acme")
    for _ in range(MAX_SECRETS_IN_FORCE - 2):
        service.rotate("acme")
    racing = Meanwhile(store, lambda: service.rotate("acme"))  # the 5th secret lands meanwhile

    with pytest.raises(Conflict) as refused:
        TeamSecretsService(racing, clock=clock).rotate("acme")

    assert f"at most {MAX_SECRETS_IN_FORCE} signing secrets" in refused.value.message
    assert len(in_force(store, clock)) == MAX_SECRETS_IN_FORCE


def expired(n: int) -> SigningSecret:
    return SigningSecret(f"whsec_other{n}", iso(T0 - ROTATION_OVERLAP), iso(T0))


class AlwaysRaced:
    """Every load is followed by another caller's save (of a secret no longer in force, so that a
    first use too must write): this caller never wins a save."""

    def __init__(self, store: InMemorySecretStore) -> None:
        self.store, self.loads = store, 0

    def load(self, team_id: str) -> StoredSecrets:
        stored = self.store.load(team_id)
        self.loads += 1
        self.store.save(team_id, [expired(self.loads)], stored.version)
        return stored

    def save(self, team_id: str, secrets: list[SigningSecret], seen: int = 0) -> int:
        return self.store.save(team_id, secrets, seen)


def test_a_caller_that_keeps_losing_gives_up_busy_after_a_few_tries(clock: Clock) -> None:
    store = InMemorySecretStore()
    racing = AlwaysRaced(store)
    service = TeamSecretsService(racing, clock=clock)

    with pytest.raises(Busy) as first_use:
        service.current("acme")
    assert racing.loads == SAVE_ATTEMPTS
    with pytest.raises(Busy) as rotation:
        service.rotate("acme")
    assert racing.loads == 2 * SAVE_ATTEMPTS

    for refused in (first_use, rotation):
        assert refused.value.status_code == 503 and "whsec_" not in refused.value.message
    assert store.load("acme") == StoredSecrets([expired(2 * SAVE_ATTEMPTS)], 2 * SAVE_ATTEMPTS)  # none of its own


def test_a_rotation_of_a_team_with_no_secret_makes_its_first(clock: Clock, service: TeamSecretsService) -> None:
    (only,) = service.rotate("acme")
    assert only.expires_at is None
    assert service.current("acme") == [only]


def test_a_rotation_that_expires_the_previous_secrets_leaves_the_new_one_alone(
        clock: Clock, service: TeamSecretsService) -> None:
    service.current("acme")
    for minute in range(1, MAX_SECRETS_IN_FORCE):
        clock.now = T0 + timedelta(minutes=minute)
        service.rotate("acme")
    clock.now = T0 + timedelta(minutes=MAX_SECRETS_IN_FORCE)

    rotated = service.rotate("acme", expire_previous=True)

    assert len(rotated) == 1 and rotated[0].expires_at is None and rotated[0].created_at == iso(clock.now)
    assert service.current("acme") == rotated
