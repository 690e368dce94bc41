"""What becomes of a queue message after one run: deleted, or left for SQS to deliver again after
a delay (its visibility timeout). The executor and the notification deliverer both answer one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What to do with the message: delete it, or leave it for SQS to deliver again after
    `redeliver_after` seconds (the visibility timeout)."""

    delete: bool
    redeliver_after: float = 0.0
    note: str = ""

    @staticmethod
    def done(note: str = "") -> Outcome:
        return Outcome(True, note=note)

    @staticmethod
    def again(seconds: float, note: str = "") -> Outcome:
        return Outcome(False, max(0.0, seconds), note)
