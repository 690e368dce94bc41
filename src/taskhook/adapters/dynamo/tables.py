"""PynamoDB models of Taskhook's tables, built for a given table name and endpoint.

Tasks table key design
----------------------
- Primary key: ``id`` (the task's UUID). Every read and every transition addresses one row by id;
  transitions are ``UpdateItem`` calls conditioned on the row's current ``status``.
- GSI ``byTeamPhase`` (KEYS_ONLY): ``teamPhase`` / ``createdAt``. ``teamPhase`` is
  ``"<teamId>#open"`` while the task is not final and ``"<teamId>#<status>"`` once it is
  (completed, failed, timeout, cancelled), so a task's entry is written twice in its life: put at
  create, moved (delete + put) when it ends. A claim, a progress write, a retry or the delivery
  log changes neither key nor projection and so never writes the index. Lists read keys here,
  newest or oldest first (``createdAt`` is ISO 8601 UTC with milliseconds, so string order is time
  order), then the page's items by BatchGetItem (adapters/dynamo/task_pages.py). It replaced
  ``byTeam`` and ``byTeamStatus`` (both ALL: every write of any attribute rewrote both copies);
  template.yaml's ``TasksIndexStage`` keeps those two while an older stack upgrades.
- GSI ``delayedDue`` (sparse): ``delayedShard`` / ``dueAt``. Only ``delayed`` rows carry these two
  attributes, so the scheduler's query of "delayed tasks due before T" reads only those rows.
  ``delayedShard`` is a constant today; spreading it over N values is how it scales past one
  partition's throughput.
- GSI ``activeDeadline`` (sparse): ``activeShard`` / ``deadlineAt``. Only started, unfinished rows
  carry them (``deadlineAt`` = startedAt + maxWaitTime), so the scheduler's timeout sweep reads
  only tasks that can still time out.

A request body, a function task's ``args`` and a ``result`` large enough to gain are stored
compressed, in ``bodyZ``, ``argsZ`` and ``resultZ`` instead (packing.py): the size of the row is
what every write of it is billed on.

Values that may be any JSON (a function task's ``args``, ``result`` and ``output``, the attempt
history ``attempts``) are stored as JSON strings (``JSON_ATTRIBUTES``): DynamoDB's own types cannot
hold every JSON value (floats as Decimals, empty strings in sets), and a stream image gives them
back as the same strings.

The stream is ``NEW_AND_OLD_IMAGES``: the dispatcher (functions/dispatcher.py) reads new tasks and
status changes from it.
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from taskhook.adapters.session import shared_session
from taskhook.config import CLIENT_POOL_SIZE
from taskhook.model.status import TERMINAL, TaskStatus

DELAYED_SHARD = "delayed"
TEAM_PHASE_INDEX = "byTeamPhase"
OPEN_PHASE = "open"  # every status that is not final shares one partition of byTeamPhase
DELAYED_INDEX = "delayedDue"
ACTIVE_SHARD = "active"
ACTIVE_INDEX = "activeDeadline"
KEY_ID_INDEX = "byKeyId"
KEY_TEAM_INDEX = "byTeam"
# DynamoDB refuses a partition key (a table's or an index's) over 2048 bytes with a ValidationException,
# on a read too: an id that long names no row, so a lookup answers "none" without asking.
PARTITION_KEY_MAX_BYTES = 2048
JSON_ATTRIBUTES = ("args", "result", "output", "outputs", "poll", "attempts")


def fits_partition_key(value: str) -> bool:
    return len(value.encode("utf-8")) <= PARTITION_KEY_MAX_BYTES


class CompactJSONAttribute(JSONAttribute):
    """JSON without the spaces after separators: the attempt history is written with every attempt's
    end, and every byte of the item is billed on each write."""

    def serialize(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))


def team_phase(team_id: str, status: TaskStatus | None) -> str:
    """The ``teamPhase`` of a task of `team_id` in `status` (None: the open partition)."""
    phase = status.value if status in TERMINAL else OPEN_PHASE
    return f"{team_id}#{phase}"


def _meta(table_name: str, region: str, host: str | None) -> type:
    shared_session()  # the models' connections use the process's botocore session (adapters/session.py)
    attrs: dict[str, Any] = {"table_name": table_name, "region": region, "max_pool_connections": CLIENT_POOL_SIZE}
    if host:
        attrs["host"] = host
    return type("Meta", (), attrs)


def build_task_model(table_name: str, region: str, host: str | None) -> type[Model]:
    class TeamPhaseIndex(GlobalSecondaryIndex["TaskModel"]):
        class Meta:
            index_name = TEAM_PHASE_INDEX
            projection = KeysOnlyProjection()

        teamPhase = UnicodeAttribute(hash_key=True)
        createdAt = UnicodeAttribute(range_key=True)

    class DelayedIndex(GlobalSecondaryIndex["TaskModel"]):
        class Meta:
            index_name = DELAYED_INDEX
            projection = AllProjection()

        delayedShard = UnicodeAttribute(hash_key=True)
        dueAt = UnicodeAttribute(range_key=True)

    class ActiveIndex(GlobalSecondaryIndex["TaskModel"]):
        class Meta:
            index_name = ACTIVE_INDEX
            projection = AllProjection()

        activeShard = UnicodeAttribute(hash_key=True)
        deadlineAt = UnicodeAttribute(range_key=True)

    class TaskModel(Model):
        Meta = _meta(table_name, region, host)  # type: ignore[assignment]

        id = UnicodeAttribute(hash_key=True)
        teamId = UnicodeAttribute()
        teamPhase = UnicodeAttribute()
        kind = UnicodeAttribute(default="http")
        status = UnicodeAttribute()
        namespace = UnicodeAttribute(null=True)
        name = UnicodeAttribute(null=True)
        args = JSONAttribute(null=True)
        progress = NumberAttribute(null=True)
        message = UnicodeAttribute(null=True)
        targetUrl = UnicodeAttribute(null=True)
        method = UnicodeAttribute(null=True)
        headers = MapAttribute(null=True)  # type: ignore[var-annotated]
        body = UnicodeAttribute(null=True)
        # body, args and result compressed when that makes the row smaller (packing.py)
        bodyZ = BinaryAttribute(null=True, legacy_encoding=False)
        argsZ = BinaryAttribute(null=True, legacy_encoding=False)
        resultZ = BinaryAttribute(null=True, legacy_encoding=False)
        maxWaitTime = NumberAttribute(null=True)
        timeout = NumberAttribute(null=True)
        delayUntil = UnicodeAttribute(null=True)
        maxRetries = NumberAttribute(null=True)
        retryCount = NumberAttribute(null=True)
        retryBackoff = UnicodeAttribute(null=True)
        priority = NumberAttribute(null=True)
        onCompleteUrl = UnicodeAttribute(null=True)
        provider = UnicodeAttribute(null=True)
        pollConfig = MapAttribute(null=True)  # type: ignore[var-annotated]
        waitForCallback = BooleanAttribute(null=True)
        callbackUrl = UnicodeAttribute(null=True)
        clientId = UnicodeAttribute(null=True)
        result = JSONAttribute(null=True)
        output = JSONAttribute(null=True)
        outputs = JSONAttribute(null=True)
        error = UnicodeAttribute(null=True)
        attempts = CompactJSONAttribute(null=True)  # the attempt history (model/attempt_log.py)
        attemptsTotal = NumberAttribute(null=True)
        retryOf = UnicodeAttribute(null=True)
        createdAt = UnicodeAttribute()
        startedAt = UnicodeAttribute(null=True)
        completedAt = UnicodeAttribute(null=True)
        updatedAt = UnicodeAttribute(null=True)
        delayedShard = UnicodeAttribute(null=True)
        dueAt = UnicodeAttribute(null=True)
        activeShard = UnicodeAttribute(null=True)
        deadlineAt = UnicodeAttribute(null=True)
        claimToken = UnicodeAttribute(null=True)
        claimedAt = UnicodeAttribute(null=True)
        dispatchedAt = UnicodeAttribute(null=True)
        sentAtCreate = BooleanAttribute(null=True)
        retryAt = UnicodeAttribute(null=True)
        waitCredit = NumberAttribute(null=True)
        poll = JSONAttribute(null=True)
        callbackHash = UnicodeAttribute(null=True)
        version = NumberAttribute(null=True)
        statusVersion = NumberAttribute(null=True)
        expiresAt = NumberAttribute(null=True)  # a terminal task's TTL, epoch seconds (model/retention.py)
        # notification id -> delivery state, written by adapters/notification_log.py
        notifications = MapAttribute(null=True)  # type: ignore[var-annotated]

        by_team_phase = TeamPhaseIndex()
        delayed_due = DelayedIndex()
        active_deadline = ActiveIndex()

    return TaskModel


def build_api_key_model(table_name: str, region: str, host: str | None) -> type[Model]:
    class KeyIdIndex(GlobalSecondaryIndex["ApiKeyModel"]):
        class Meta:
            index_name = KEY_ID_INDEX
            projection = AllProjection()

        keyId = UnicodeAttribute(hash_key=True)

    class TeamIndex(GlobalSecondaryIndex["ApiKeyModel"]):
        class Meta:
            index_name = KEY_TEAM_INDEX
            projection = AllProjection()

        teamId = UnicodeAttribute(hash_key=True)
        keyId = UnicodeAttribute(range_key=True)

    class ApiKeyModel(Model):
        """One row per API key, keyed by the SHA-256 of the key: the key itself is never stored."""

        Meta = _meta(table_name, region, host)  # type: ignore[assignment]

        keyHash = UnicodeAttribute(hash_key=True)
        keyId = UnicodeAttribute()
        teamId = UnicodeAttribute()
        # No name: no attribute (DynamoDB Local refuses an empty string; it reads back as "").
        name = UnicodeAttribute(null=True)
        createdAt = UnicodeAttribute()
        revokedAt = UnicodeAttribute(null=True)
        # "api" (absent on older rows) or "client": a client token (seed 003) lives beside the keys.
        kind = UnicodeAttribute(null=True)
        # An API key's scope, "admin" or "tasks" (absent on older rows: "admin", ports.ADMIN_SCOPE).
        scope = UnicodeAttribute(null=True)

        by_key_id = KeyIdIndex()
        by_team = TeamIndex()

    return ApiKeyModel
