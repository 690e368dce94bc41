"""What the stream dispatcher does with one batch of the Tasks table's stream, in a few calls per batch.

Each consumer takes the whole batch, in stream order:
- dispatch/outbox.py sends the newly inserted tasks to their SQS lanes (`SendMessageBatch`);
- notify/changes.py queues the customers' notifications for status changes (the FIFO queue);
- notify/live.py pushes status, progress and message changes to WebSocket subscribers (one
  subscriber lookup per team in the batch);
- dispatch/expired_objects.py deletes a removed (expired) task's S3 objects;
- last, dispatch/counters.py adds the batch to each team's counts and usage (TeamStats).
Doing this per batch rather than per record is what lets one stream reader keep up with a burst:
per record it cost one SendMessage and two to three Queries for every change.

Removals (a row deleted by TTL, or by the local stack's expiry) reach only the consumers listed in
`removal_consumers` and the counters; the others never see one.

A change whose effect failed is reported by its sequence number; Lambda (or the local runner)
retries the batch from the earliest one reported and never skips a record. Repeating the effects
of the changes after it is harmless: a task's second message finds it claimed or finished, a
notification's deduplication id (the sequence number) keeps it from being queued twice, a repeated
live message carries the same state, a deleted object is deleted again. Counting is not harmless
to repeat: the counters run last and count only the changes before the earliest failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taskhook.model.change import Change
from taskhook.ports import ChangeConsumer, CountingConsumer


@dataclass
class ChangeFeed:
    consumers: Sequence[ChangeConsumer]
    removal_consumers: Sequence[ChangeConsumer] = ()
    counters: CountingConsumer | None = None

    def handle(self, changes: list[Change]) -> list[str]:
        """Carry out the batch; return the sequence numbers of the changes to retry (empty: all done)."""
        failed: set[int] = set()
        kept = [i for i, c in enumerate(changes) if not c.removed]
        if kept:
            view = changes if len(kept) == len(changes) else [changes[i] for i in kept]
            for consumer in self.consumers:
                failed.update(kept[j] for j in consumer.consume(view))
        for consumer in self.removal_consumers:
            failed.update(consumer.consume(changes))
        if self.counters is not None:
            failed.update(self.counters.count(changes, min(failed, default=len(changes))))
        return [changes[i].sequence for i in sorted(failed)]
