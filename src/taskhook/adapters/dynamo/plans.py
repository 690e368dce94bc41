"""The Teams table's `plan` attribute: the limits an operator set for one team (model/plan.py).

The plan is one map on the team's row, next to the webhook signing secrets (team_secrets.py),
written with UpdateItem on `plan` alone so that neither write touches the other's attributes.
Values: `rps` and `burst` (API rate limit), `concurrency` (executor share), `destinations` (a map
of host to its own `concurrency` / `rps` / `burst`), `retentionDays` (how long the team's finished
tasks are kept, model/retention.py); an absent value is the deployment's default,
0 is "no limit" for this team.
"""

from __future__ import annotations

from typing import Any

from taskhook.adapters.throttling import busy_when_throttled
from taskhook.model.plan import DestinationLimit, TeamPlan

PLAN = "plan"


class DynamoPlanStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def load(self, team_id: str) -> TeamPlan | None:
        with busy_when_throttled():
            item = self._client.get_item(TableName=self._table, Key=_key(team_id), ProjectionExpression="#p",
                                         ExpressionAttributeNames={"#p": PLAN}).get("Item")
        if not item or PLAN not in item:
            return None
        plan = item[PLAN]["M"]
        destinations = {
            host: DestinationLimit(_int(m, "concurrency"), _number(m, "rps"), _int(m, "burst"))
            for host, m in ((h, limit["M"]) for h, limit in plan.get("destinations", {}).get("M", {}).items())
        }
        return TeamPlan(_number(plan, "rps"), _int(plan, "burst"), _int(plan, "concurrency"), destinations,
                        retention_days=_int(plan, "retentionDays"))

    def save(self, team_id: str, plan: TeamPlan) -> None:
        value: dict[str, Any] = _numbers({"rps": plan.rps, "burst": plan.burst, "concurrency": plan.concurrency,
                                          "retentionDays": plan.retention_days})
        value["destinations"] = {"M": {
            host: {"M": _numbers({"concurrency": limit.concurrency, "rps": limit.rps, "burst": limit.burst})}
            for host, limit in plan.destinations.items()
        }}
        with busy_when_throttled():
            self._client.update_item(TableName=self._table, Key=_key(team_id), UpdateExpression="SET #p = :p",
                                     ExpressionAttributeNames={"#p": PLAN},
                                     ExpressionAttributeValues={":p": {"M": value}})


def _key(team_id: str) -> dict[str, Any]:
    return {"teamId": {"S": team_id}}


def _numbers(values: dict[str, float | int | None]) -> dict[str, Any]:
    return {name: {"N": repr(value)} for name, value in values.items() if value is not None}


def _number(values: dict[str, Any], name: str) -> float | None:
    return float(values[name]["N"]) if name in values else None


def _int(values: dict[str, Any], name: str) -> int | None:
    return int(float(values[name]["N"])) if name in values else None
