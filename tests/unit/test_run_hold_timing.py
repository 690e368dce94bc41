"""functions/executor.py: a claimed run's own hold goes out at a time counted from the batch's start
(`not_before`), not from the claim; and it keeps the message hidden until the end it was decided
for (`Hold.as_of`), however late it is sent. A review found both: a late claim (a task due soon is
waited for) left the hold too little time before the batch's first hold ended, and a hold sent
after its window kept a crashed run's message hidden that much longer."""

from __future__ import annotations

import threading
import time

from functions.executor import Grouped
from taskhook.adapters.sqs import Hold


def test_a_group_with_not_before_goes_then_with_every_entry_started_before_it() -> None:
    calls: list[tuple[float, list[str]]] = []
    went = threading.Event()

    def call(entries: list[str]) -> list[int]:
        calls.append((time.monotonic(), list(entries)))
        went.set()
        return []

    not_before = time.monotonic() + 0.4
    group = Grouped(call, "test", window=30.0, not_before=not_before)  # the window is not used
    group.start("claimed early")
    time.sleep(0.1)
    group.start("claimed late")
    assert went.wait(10)
    ((at, entries),) = calls
    assert at >= not_before
    assert entries == ["claimed early", "claimed late"]


def test_a_group_started_after_not_before_goes_at_once_rather_than_a_window_later() -> None:
    went = threading.Event()
    group = Grouped(lambda entries: went.set() or [], "test", window=30.0, not_before=time.monotonic() - 1)
    group.start("claimed after the window")
    assert went.wait(10)  # with the 30 s window it would still be waiting


def test_a_hold_counts_its_seconds_from_when_it_was_decided() -> None:
    hold = Hold("arn", "handle", 30.0, decided_at=100.0)
    assert hold.as_of(100.0).seconds == 30.0
    assert hold.as_of(110.0).seconds == 20.0
    assert hold.as_of(200.0).seconds == 1.0  # never 0: that would make the message visible at once
    assert hold.as_of(110.0).decided_at is None
    plain = Hold("arn", "handle", 30.0)
    assert plain.as_of(500.0) is plain
