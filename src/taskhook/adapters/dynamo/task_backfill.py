"""The one-off upgrade of a tasks table written before ``byTeamPhase`` and retention
(docs/upgrading.md): every item gets its ``teamPhase`` and loses ``teamStatus`` (the old
byTeamStatus key), and a finished one without ``expiresAt`` gets it (its completion plus its team's
retention, model/retention.py), so that TTL expires the old tasks as it does the new ones.

A Scan, page by page, of the items that still need it (no ``teamPhase``, or a ``teamStatus``
left), and one conditional UpdateItem per such item:
- no ``teamPhase`` yet: SET it from the status the Scan read, REMOVE ``teamStatus``, only if the
  status is still that one and nobody set ``teamPhase`` meanwhile (the new code sets it on every
  write); a lost condition reads the item again and decides anew;
- ``teamPhase`` already there: REMOVE ``teamStatus`` only;
- a finished item (``completedAt``) without ``expiresAt``: SET it, only while it has none.
Neither touches ``version``: a bookkeeping write, which the stream consumers pass over. Every
UpdateItem is conditioned on the item existing (an update would otherwise create it).

Idempotent (a second run finds nothing to do) and resumable: each page reports the Scan's
``LastEvaluatedKey``, which ``start_key`` takes back; stopping anywhere and running again from
the start is correct too, only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.errors import CONDITION_FAILED
from taskhook.adapters.dynamo.tables import team_phase
from taskhook.model.retention import DEFAULT_RETENTION_DAYS, expires_at
from taskhook.model.status import TERMINAL, TaskStatus

SCAN_PAGE_SIZE = 500
ATTEMPTS = 5  # conditional updates lost to the item's own writes before giving up on it
_READ = "id, teamId, #s, teamPhase, teamStatus, completedAt, expiresAt"
_NEEDS_WORK = ("attribute_not_exists(teamPhase) OR attribute_exists(teamStatus)"
               " OR (attribute_exists(completedAt) AND attribute_not_exists(expiresAt))")


@dataclass(frozen=True)
class BackfillPage:
    scanned: int  # items the Scan examined
    updated: int  # items this page changed
    skipped: int  # items left as they are (gone meanwhile, or a status this code does not know)
    resume: dict[str, Any] | None  # the Scan's LastEvaluatedKey: None when the table is done


class TeamPhaseBackfill:
    def __init__(self, client: Any, table: str,
                 retention_days: Callable[[str], int] = lambda team_id: DEFAULT_RETENTION_DAYS) -> None:
        self._ddb = client
        self._table = table
        self._retention_days = retention_days

    def pages(self, start_key: dict[str, Any] | None = None,
              page_size: int = SCAN_PAGE_SIZE) -> Iterator[BackfillPage]:
        key = start_key
        while True:
            params: dict[str, Any] = {
                "TableName": self._table, "Limit": page_size, "ProjectionExpression": _READ,
                "FilterExpression": _NEEDS_WORK, "ExpressionAttributeNames": {"#s": "status"},
                "ConsistentRead": True,
            }
            if key:
                params["ExclusiveStartKey"] = key
            answer = self._ddb.scan(**params)
            outcomes = [self.upgrade(item) for item in answer.get("Items", [])]
            key = answer.get("LastEvaluatedKey")
            yield BackfillPage(scanned=answer.get("ScannedCount", 0), updated=sum(outcomes),
                               skipped=len(outcomes) - sum(outcomes), resume=key)
            if not key:
                return

    def upgrade(self, item: dict[str, Any]) -> bool:
        """Bring one item (as the Scan read it) to the new layout; False when left as it is."""
        task_id = item["id"]["S"]
        for _ in range(ATTEMPTS):
            try:
                return self._update(task_id, item)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                    raise
            current = self._ddb.get_item(TableName=self._table, Key={"id": {"S": task_id}}, ConsistentRead=True,
                                         ProjectionExpression=_READ, ExpressionAttributeNames={"#s": "status"})
            item = current.get("Item")
            if item is None or not _needs_work(item):
                return False  # gone, or brought up by the new code's own write
        raise RuntimeError(f"task {task_id} kept changing: run the backfill again")

    def _update(self, task_id: str, item: dict[str, Any]) -> bool:
        key = {"id": {"S": task_id}}
        if "teamPhase" in item:
            if "teamStatus" in item:
                self._ddb.update_item(TableName=self._table, Key=key, UpdateExpression="REMOVE teamStatus",
                                      ConditionExpression="attribute_exists(teamPhase)")
            return self._expire(key, item) or "teamStatus" in item
        try:
            status = TaskStatus(item["status"]["S"])
            team = item["teamId"]["S"]
        except (KeyError, ValueError):
            return False  # not a task this code can place: leave it for an operator to look at
        self._ddb.update_item(
            TableName=self._table, Key=key, UpdateExpression="SET teamPhase = :phase REMOVE teamStatus",
            ConditionExpression="#s = :status AND attribute_not_exists(teamPhase)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":phase": {"S": team_phase(team, status)}, ":status": {"S": status.value}})
        self._expire(key, item)
        return True

    def _expire(self, key: dict[str, Any], item: dict[str, Any]) -> bool:
        """A finished item without `expiresAt`: set it (TTL's attribute), only while it has none."""
        try:
            status, team, completed = TaskStatus(item["status"]["S"]), item["teamId"]["S"], item["completedAt"]["S"]
        except (KeyError, ValueError):
            return False
        if status not in TERMINAL or "expiresAt" in item:
            return False
        moment = expires_at(completed, self._retention_days(team))
        self._ddb.update_item(TableName=self._table, Key=key, UpdateExpression="SET expiresAt = :at",
                              ConditionExpression="attribute_not_exists(expiresAt) AND #s = :status",
                              ExpressionAttributeNames={"#s": "status"},
                              ExpressionAttributeValues={":at": {"N": str(moment)}, ":status": {"S": status.value}})
        return True


def _needs_work(item: dict[str, Any]) -> bool:
    return ("teamPhase" not in item or "teamStatus" in item
            or ("completedAt" in item and "expiresAt" not in item))
