"""Rotation of a team's webhook signing secrets: every superseded secret stays valid for its full
overlap (ROTATION_OVERLAP from the moment it was superseded), up to MAX_SECRETS_IN_FORCE at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskhook.model.clock import iso
from taskhook.model.errors import Conflict
from taskhook.notify.secrets import MAX_SECRETS_IN_FORCE, ROTATION_OVERLAP, TeamSecretsService
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
    assert len(service.store.load("acme")) == 2  # type: ignore[attr-defined]


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
