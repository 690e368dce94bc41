"""How long a finished task is kept (docs/retention.md).

A task that becomes terminal gets `expiresAt` (epoch seconds) = its `completedAt` + the retention
of its team: the team's plan's `retentionDays` (model/plan.py), else the deployment's default
(template.yaml's RetentionDays, env TASK_RETENTION_DAYS, 30 days). DynamoDB's TTL deletes the row
after that moment (within a day or two: TTL is not immediate); the stream's REMOVE record then
decrements the team's counters (dispatch/counters.py) and deletes the task's S3 objects
(dispatch/expired_objects.py). The local stack, whose emulator has no TTL, deletes expired rows
itself (adapters/dynamo/expiry.py, from infra/runner.py).
"""

from __future__ import annotations

from datetime import timedelta

from taskhook.model.clock import parse_iso
from taskhook.model.errors import ValidationFailed

DEFAULT_RETENTION_DAYS = 30
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650


def check_retention_days(days: int | None) -> None:
    if days is not None and not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise ValidationFailed(f"retentionDays must be a whole number between {MIN_RETENTION_DAYS} and "
                               f"{MAX_RETENTION_DAYS}")


def expires_at(completed_at: str, days: int) -> int:
    """The epoch second at which a task finished at `completed_at` expires (TTL's attribute)."""
    return int((parse_iso(completed_at) + timedelta(days=days)).timestamp())
