"""What the stream dispatcher does with one batch of the Tasks table's stream, in a few calls per batch.

Each consumer takes the whole batch, in stream order:
- dispatch/outbox.py sends the newly inserted tasks to their SQS lanes (`SendMessageBatch`);
- notify/changes.py queues the customers' notifications for status changes (the FIFO queue);
- notify/live.py pushes status, progress and message changes to WebSocket subscribers (one
  subscriber lookup per team in the batch).
Doing this per batch rather than per record is what lets one stream reader keep up with a burst:
per record it cost one SendMessage and two to three Queries for every change.

A change whose effect failed is reported by its sequence number; Lambda (or the local runner)
retries the batch from the earliest one reported and never skips a record. Repeating the effects
of the changes after it is harmless: a task's second message finds it claimed or finished, a
notification's deduplication id (the sequence number) keeps it from being queued twice, and a
repeated live message carries the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taskhook.model.change import Change
from taskhook.ports import ChangeConsumer


@dataclass
class ChangeFeed:
    consumers: Sequence[ChangeConsumer]

    def handle(self, changes: list[Change]) -> list[str]:
        """Carry out the batch; return the sequence numbers of the changes to retry (empty: all done)."""
        failed: set[int] = set()
        for consumer in self.consumers:
            failed.update(consumer.consume(changes))
        return [changes[i].sequence for i in sorted(failed)]
