"""Priority lanes: three SQS queues, drained high first (model/dispatch.py says which message goes to which)."""

from __future__ import annotations

from enum import StrEnum


class Lane(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


LANES_BY_URGENCY = (Lane.HIGH, Lane.NORMAL, Lane.LOW)


def lane_for(priority: int) -> Lane:
    """8-10 high, 4-7 normal, 1-3 low (seed 002: higher numbers are processed first)."""
    if priority >= 8:
        return Lane.HIGH
    if priority >= 4:
        return Lane.NORMAL
    return Lane.LOW
