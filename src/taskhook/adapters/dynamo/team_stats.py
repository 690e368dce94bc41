"""The TeamStats table (template.yaml): per team one `counts` item (the number of its tasks in each
status, one Number attribute per status), one `day#YYYY-MM-DD` item per UTC day with usage
(tasksCreated, attempts, polls, bytesStored) and one `min#YYYY-MM-DDTHH:MM` item per UTC minute in
which tasks finished (completed, failed), which expires (the table's TTL, `expiresAt`) after
MINUTE_KEEP_HOURS. Raw boto3: ADD in a transaction, GetItem, Query.
dispatch/counters.py writes it from the stream; the list's total and GET /v1/usage read it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.errors import Busy
from taskhook.model.status import TaskStatus
from taskhook.model.usage import USAGE_FIELDS, DayUsage, Tally

COUNTS = "counts"
DAY_PREFIX = "day#"
MINUTE_PREFIX = "min#"
MINUTE_KEEP_HOURS = 3  # the chart shows the last hour; a little more is kept for clocks and TTL's lag
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


def day_key(day: date) -> str:
    return DAY_PREFIX + day.isoformat()


class DynamoTeamStats:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, team_id: str, key: str) -> dict[str, Any]:
        return {"teamId": {"S": team_id}, "key": {"S": key}}

    def _add(self, team_id: str, key: str, values: Mapping[str, int], expires: int | None = None) -> dict[str, Any]:
        names = {f"#a{i}": name for i, name in enumerate(values)}
        numbers = {f":a{i}": {"N": str(value)} for i, value in enumerate(values.values())}
        expression = "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(values)))
        if expires is not None:
            expression += " SET expiresAt = :expires"
            numbers[":expires"] = {"N": str(expires)}
        return {"Update": {
            "TableName": self._table, "Key": self._key(team_id, key), "UpdateExpression": expression,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": numbers,
        }}

    def add(self, tally: Tally, token: str) -> None:
        """Add the tally in one transaction per 100 items (ClientRequestToken: `token`, and the
        chunk's number after the first); Busy when it is not written (nothing of that chunk is)."""
        items = [self._add(team, COUNTS, {s.value: n for s, n in counts.items()})
                 for team, counts in sorted(tally.counts.items())]
        items += [self._add(team, day_key(day), {k: v for k, v in usage.public().items() if v})
                  for (team, day), usage in sorted(tally.usage.items())]
        items += [self._add(team, MINUTE_PREFIX + minute, dict(sorted(finished.items())), _expiry(minute))
                  for (team, minute), finished in sorted(tally.finished.items())]
        for number, start in enumerate(range(0, len(items), MAX_TRANSACTION_ITEMS)):
            chunk_token = token if number == 0 else f"{token[:32]}-{number:03d}"
            try:
                with busy_when_throttled():
                    self._client.transact_write_items(
                        TransactItems=items[start:start + MAX_TRANSACTION_ITEMS], ClientRequestToken=chunk_token)
            except ClientError as exc:  # cancelled, conflicting transaction, token reused otherwise
                raise Busy(f"team stats not written: {exc.response.get('Error', {}).get('Code')}") from exc

    def counts(self, team_id: str) -> dict[TaskStatus, int]:
        """The team's counts by status (eventually consistent: one GetItem, 0.5 RCU)."""
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=self._key(team_id, COUNTS)).get("Item") or {}
        return {s: int(item[s.value]["N"]) for s in TaskStatus if s.value in item}

    def total(self, team_id: str, status: TaskStatus | None) -> int:
        """ports.TaskCounts: the team's tasks in `status` (None: in any), never below 0."""
        counts = self.counts(team_id)
        if status is not None:
            return max(0, counts.get(status, 0))
        return sum(max(0, n) for n in counts.values())

    def usage(self, team_id: str, first: date, last: date) -> dict[date, DayUsage]:
        """The team's usage of each day from `first` to `last` that has any (one Query)."""
        out: dict[date, DayUsage] = {}
        for item in self._query(team_id, day_key(first), day_key(last)):
            day = date.fromisoformat(item["key"]["S"][len(DAY_PREFIX):])
            out[day] = DayUsage(**{name: int(item[name]["N"]) for name in USAGE_FIELDS if name in item})
        return out

    def finished(self, team_id: str, first: str, last: str) -> dict[str, dict[str, int]]:
        """Tasks finished per minute from `first` to `last` (`YYYY-MM-DDTHH:MM`, inclusive), for the
        minutes that have any: {minute: {"completed": n, "failed": n}} (one Query, 60 small items)."""
        out: dict[str, dict[str, int]] = {}
        for item in self._query(team_id, MINUTE_PREFIX + first, MINUTE_PREFIX + last):
            out[item["key"]["S"][len(MINUTE_PREFIX):]] = {
                name: int(item[name]["N"]) for name in ("completed", "failed") if name in item}
        return out

    def _query(self, team_id: str, low: str, high: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "teamId = :t AND #k BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#k": "key"},
            "ExpressionAttributeValues": {":t": {"S": team_id}, ":a": {"S": low}, ":b": {"S": high}},
        }
        items: list[dict[str, Any]] = []
        while True:
            with busy_when_throttled():
                page = self._client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_counts(self, team_id: str, counts: Mapping[TaskStatus, int]) -> None:
        """Replace the team's counts (the recount): every status written, 0 where none."""
        values = {s.value: {"N": str(counts.get(s, 0))} for s in TaskStatus}
        with busy_when_throttled():
            self._client.put_item(TableName=self._table, Item={**self._key(team_id, COUNTS), **values})

    def counted_teams(self) -> Iterator[str]:
        """Every team with a counts item: one Scan of the table, reading keys only (operators)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "FilterExpression": "#k = :c", "ProjectionExpression": "teamId",
            "ExpressionAttributeNames": {"#k": "key"}, "ExpressionAttributeValues": {":c": {"S": COUNTS}},
        }
        while True:
            with busy_when_throttled():
                page = self._client.scan(**kwargs)
            yield from (item["teamId"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

def _expiry(minute: str) -> int:
    """When a minute's item expires (epoch seconds): MINUTE_KEEP_HOURS after the minute."""
    start = datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    return int((start + timedelta(hours=MINUTE_KEEP_HOURS)).timestamp())
