"""The outbox, now the repair path: the API sends a new task's lane message itself before it writes
the row (intake/new_tasks.py) and marks the row `sentAtCreate`. The table's stream still delivers
every insert here at least once (Lambda retries a failing batch until it succeeds); an inserted row
without the mark (its send at create failed, or it was created by code that does not send) gets its
message here, so no task is lost between the table and the queue. Which message a task needs is
model/dispatch.py's rule, the same as at create."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from taskhook.model.change import Change
from taskhook.model.clock import utcnow
from taskhook.model.dispatch import dispatch_for_new_task
from taskhook.ports import DispatchQueue


@dataclass
class TaskOutbox:
    """The stream consumer that sends a batch's new, not yet sent tasks to their lanes (ten to a call)."""

    queue: DispatchQueue
    clock: Callable[[], datetime] = utcnow

    def consume(self, changes: list[Change]) -> list[int]:
        now = self.clock()
        dispatched = [(i, d) for i, c in enumerate(changes) if c.inserted and not c.new.sentAtCreate
                      for d in [dispatch_for_new_task(c.new, now)] if d is not None]
        return [dispatched[j][0] for j in self.queue.send_many([d for _, d in dispatched])]
