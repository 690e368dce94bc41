"""What becomes of a queue message after one run: deleted, left for SQS to deliver again after a
delay (its visibility timeout), or put back. The executor and the notification deliverer both
answer one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What to do with the message: delete it, or leave it for SQS to deliver again after
    `redeliver_after` seconds (the visibility timeout). `put_back`: send the task again as a new
    message delayed `redeliver_after` seconds, then delete this one. A put-back is not a receive
    of the same message, so it never counts towards the queue's maxReceiveCount (the dead-letter
    queue); it is for a task that was not run at all (its team over its share)."""

    delete: bool
    redeliver_after: float = 0.0
    note: str = ""
    put_back: bool = False
    # A put-back's team, carried by the new message: while the team is known to be at its share,
    # its next delivery is put back again without reading the task.
    team: str | None = None

    @staticmethod
    def done(note: str = "") -> Outcome:
        return Outcome(True, note=note)

    @staticmethod
    def again(seconds: float, note: str = "") -> Outcome:
        return Outcome(False, max(0.0, seconds), note)

    @staticmethod
    def put_back_after(seconds: int, note: str = "", team: str | None = None) -> Outcome:
        return Outcome(True, max(0, seconds), note, put_back=True, team=team)
