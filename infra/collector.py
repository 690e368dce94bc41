"""Garbage collection for the embedded emulator, whose heap is mostly long-lived items.

CPython's full collection traverses every tracked object with the GIL held: the whole process
stops meanwhile. moto keeps each DynamoDB item as a few hundred such objects, so the pause grew
with the table, and it came every few seconds under load: measured 0.6-0.8 s with 4,000 tasks
stored, about 1.3 s after the benchmark's bursts, and a delayed task due during one fired that much
late (the delay scenario's p99).

So after each full collection the survivors are frozen (`gc.freeze`): the next one looks only at
what was made since (measured 6-25 ms instead). Frozen objects are still freed by their reference
counts (a deleted item, a received message). What a freeze keeps is a reference cycle alive at that
moment and garbage later: the requests in flight then (measured about 9,000 objects, 30 a request,
over a 2,300-task run, against 650,000 frozen). So that this cannot grow without bound, the frozen
objects are looked at once more when their number has doubled since the last full look: one long
pause each time the heap doubles, instead of one every few seconds.

Counting the frozen objects (`gc.get_freeze_count`) walks all of them: 7 ms with 600,000, and full
collections come about twice a second in a burst (each looks only at the new, so the interpreter
starts them often), which made this callback 4 % of the emulator's CPU. It keeps its own count
instead: each freeze adds what the collection just kept (the oldest generation holds only that
then), and only when that count passes the factor is the real one taken. The own count never falls
short of the real one (objects freed by their reference counts leave the real one only), so no
unfreeze comes later than it did with the real count."""

from __future__ import annotations

import gc
from typing import Any

OLDEST = 2  # CPython's oldest generation, the one a full collection is of
GROWTH = 2.0  # the frozen objects are looked at again when they are this many times the last full look's


class CollectOnlyTheNew:
    """The `gc.callbacks` entry; `install()` adds it once."""

    def __init__(self, growth: float = GROWTH) -> None:
        self.growth = growth
        self.after_full_look = 0  # the objects frozen after the last collection that looked at all of them
        self.full_looks = 0
        self.frozen = 0  # at least the objects frozen now (0: none; only this callback freezes)
        self.counted = 0  # how many times the frozen objects were counted (each count walks all of them)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != OLDEST:
            return
        looked_at_all = self.frozen == 0  # nothing was frozen: this one saw every object
        self.frozen += len(gc.get_objects(generation=OLDEST))  # what it kept: every unfrozen object now
        gc.freeze()
        if looked_at_all:
            self.after_full_look = self.frozen
            self.full_looks += 1
        elif self.frozen > self.growth * self.after_full_look:
            self.frozen = gc.get_freeze_count()
            self.counted += 1
            if self.frozen > self.growth * self.after_full_look:
                gc.unfreeze()  # the next full collection looks at all of them (a collection cannot start one here)
                self.frozen = 0


def install() -> CollectOnlyTheNew:
    for callback in gc.callbacks:
        if isinstance(callback, CollectOnlyTheNew):
            return callback
    callback = CollectOnlyTheNew()
    gc.callbacks.append(callback)
    return callback
