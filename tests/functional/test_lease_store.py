"""The LeaseStore contract (acquire / release of counted, expiring slots), run against the in-memory
fake and against the DynamoDB Limits table on moto: the limit holds, expired leases free their
slots (and are pruned), release is idempotent, and threads racing for slots never hold more than
the limit between them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from taskhook.adapters.dynamo.leases import LEASES, DynamoLeaseStore
from taskhook.container import container
from tests.support.fakes import InMemoryLeaseStore

KEY, OTHER = "share:team-a", "share:team-b"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "dynamo"])
def store(request: pytest.FixtureRequest, clock: Clock,
          monkeypatch: pytest.MonkeyPatch) -> InMemoryLeaseStore | DynamoLeaseStore:
    if request.param == "memory":
        return InMemoryLeaseStore(clock)
    request.getfixturevalue("atomic_dynamo_writes")  # moto's writes one at a time, as DynamoDB's
    return DynamoLeaseStore(container().client("dynamodb"), container().settings.limits_table, clock)


def test_the_limit_holds_and_a_release_frees_a_slot(store: InMemoryLeaseStore | DynamoLeaseStore,
                                                    clock: Clock) -> None:
    later = clock.now + 60
    assert store.acquire(KEY, "a1", 2, later)
    assert store.acquire(KEY, "a2", 2, later)
    assert not store.acquire(KEY, "a3", 2, later)
    assert set(store.held(KEY)) == {"a1", "a2"}  # the refused one took nothing

    assert store.acquire(OTHER, "b1", 2, later)  # keys are independent

    store.release(KEY, "a1")
    assert store.acquire(KEY, "a3", 2, later)
    assert set(store.held(KEY)) == {"a2", "a3"}


def test_an_expired_lease_frees_its_slot_and_is_pruned(store: InMemoryLeaseStore | DynamoLeaseStore,
                                                        clock: Clock) -> None:
    assert store.acquire(KEY, "dead", 1, clock.now + 10)  # its holder dies
    assert not store.acquire(KEY, "next", 1, clock.now + 60)

    clock.now += 11
    assert store.acquire(KEY, "next", 1, clock.now + 60)
    assert set(store.held(KEY)) == {"next"}
    store.release(KEY, "dead")  # the dead holder's late release takes nothing from the live one
    assert set(store.held(KEY)) == {"next"}


def test_release_of_an_unknown_lease_or_key_changes_nothing(store: InMemoryLeaseStore | DynamoLeaseStore,
                                                            clock: Clock) -> None:
    store.release("share:nobody", "x")
    assert store.held("share:nobody") == {}
    assert store.acquire(KEY, "a1", 1, clock.now + 60)
    store.release(KEY, "a1")
    store.release(KEY, "a1")
    assert store.held(KEY) == {}
    assert store.acquire(KEY, "a2", 1, clock.now + 60)


def test_a_zero_limit_admits_nothing(store: InMemoryLeaseStore | DynamoLeaseStore, clock: Clock) -> None:
    assert not store.acquire(KEY, "a1", 0, clock.now + 60)
    assert store.held(KEY) == {}


def test_threads_never_hold_more_than_the_limit(store: InMemoryLeaseStore | DynamoLeaseStore,
                                                clock: Clock) -> None:
    limit, workers, rounds = 3, 8, 6
    holding: set[str] = set()
    most = [0]
    lock = threading.Lock()

    def worker(n: int) -> int:
        taken = 0
        for r in range(rounds):
            lease = f"w{n}r{r}"
            if store.acquire(KEY, lease, limit, clock.now + 60):
                taken += 1
                with lock:
                    holding.add(lease)
                    most[0] = max(most[0], len(holding))
                time.sleep(0.002)
                with lock:
                    holding.discard(lease)
                store.release(KEY, lease)
        return taken

    with ThreadPoolExecutor(workers) as pool:
        taken = sum(pool.map(worker, range(workers)))

    assert most[0] <= limit
    assert taken >= limit  # the slots were used, not refused wholesale
    assert store.held(KEY) == {}


def test_racing_for_the_last_slots_admits_exactly_the_limit(store: InMemoryLeaseStore | DynamoLeaseStore,
                                                             clock: Clock) -> None:
    """No release: of 12 threads released at once, exactly `limit` get a slot (also after an expired
    lease must be pruned first)."""
    assert store.acquire(KEY, "dead", 5, clock.now + 1)
    clock.now += 2
    start = threading.Barrier(12)

    def take(n: int) -> bool:
        start.wait()
        return store.acquire(KEY, f"t{n}", 5, clock.now + 60)

    with ThreadPoolExecutor(12) as pool:
        won = sum(pool.map(take, range(12)))

    assert won == 5
    assert len(store.held(KEY)) == 5 and "dead" not in store.held(KEY)


def test_the_item_is_small_and_expires_by_ttl(aws: object, clock: Clock) -> None:
    store = DynamoLeaseStore(container().client("dynamodb"), container().settings.limits_table, clock)
    assert store.acquire(KEY, "abcd1234", 4, clock.now + 45)
    item = container().client("dynamodb").get_item(TableName=container().settings.limits_table,
                                                    Key={"key": {"S": KEY}})["Item"]
    assert set(item) == {"key", LEASES, "expiresAt"}
    assert float(item["expiresAt"]["N"]) > clock.now + 45  # the TTL never removes a live lease


