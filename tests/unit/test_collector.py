"""infra/collector.py: after a full collection the survivors are frozen, so the next one looks only at
what is new; a cycle frozen while alive and dropped later is freed once the frozen objects have
grown by the factor, when they are looked at again. Run with the automatic collections off, each
collection made here (`gc.collect()`, a full one, through the callbacks as an automatic one is)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from infra.collector import CollectOnlyTheNew, install


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only a collection frees it


def dropped_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture
def collector() -> Iterator[CollectOnlyTheNew]:
    was_enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    callback = CollectOnlyTheNew(growth=1.5)
    gc.callbacks.append(callback)
    try:
        yield callback
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()
        gc.collect()
        if was_enabled:
            gc.enable()


def test_a_full_collection_freezes_what_survives_it(collector: CollectOnlyTheNew) -> None:
    kept = [Node() for _ in range(1000)]
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gc.get_freeze_count() >= len(kept)
    assert collector.full_looks == 1 and collector.after_full_look >= len(kept)


def test_garbage_made_after_a_freeze_is_still_collected(collector: CollectOnlyTheNew) -> None:
    gc.collect()
    cycle = dropped_cycle()
    assert cycle() is not None
    gc.collect()
    assert cycle() is None


def test_frozen_objects_are_still_freed_by_their_reference_counts(collector: CollectOnlyTheNew) -> None:
    class Item:
        pass

    item = Item()
    ref = weakref.ref(item)
    gc.collect()  # frozen now
    del item
    assert ref() is None


def test_a_cycle_frozen_alive_is_freed_when_the_frozen_objects_have_grown_by_the_factor(
        collector: CollectOnlyTheNew) -> None:
    held = [Node()]
    cycle = weakref.ref(held[0])
    gc.collect()  # the first full look: the cycle is alive, so it is frozen
    baseline = collector.after_full_look
    held.clear()
    gc.collect()
    assert cycle() is not None, "a frozen cycle is not looked at by the next collection (the cost of the freeze)"

    grown = [[] for _ in range(int(baseline * 0.6))]  # the frozen objects grow past 1.5 times
    gc.collect()  # frozen again, past the factor: unfrozen for the next one
    assert gc.get_freeze_count() == 0
    gc.collect()  # looks at all of them
    assert cycle() is None
    assert collector.full_looks == 2
    assert collector.after_full_look >= len(grown)


def test_installing_twice_adds_one_callback() -> None:
    before = list(gc.callbacks)
    try:
        first = install()
        assert install() is first
        assert sum(isinstance(c, CollectOnlyTheNew) for c in gc.callbacks) == 1
    finally:
        gc.callbacks[:] = before
        gc.unfreeze()


def test_the_frozen_objects_are_counted_only_once_they_may_have_grown_by_the_factor(
        collector: CollectOnlyTheNew, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting them walks every frozen object (7 ms with 600,000), and a burst makes about two
    full collections a second: the callback counts what each collection kept instead."""
    kept = [Node() for _ in range(3000)]
    gc.collect()  # the first full look
    walks: list[int] = []
    count = gc.get_freeze_count
    monkeypatch.setattr(gc, "get_freeze_count", lambda: walks.append(1) or count())
    more = []
    for _ in range(5):
        more.append([Node() for _ in range(100)])  # 500 objects in all: far from 1.5 times
        gc.collect()
    assert walks == [] and count() > 0 and collector.full_looks == 1
    assert collector.frozen >= len(kept) + 500
    more.append([[] for _ in range(int(collector.after_full_look * 0.6))])
    gc.collect()  # past the factor: counted, and unfrozen for the next one
    assert len(walks) == collector.counted == 1 and collector.frozen == 0 and count() == 0
    gc.collect()
    assert collector.full_looks == 2
