"""A team's usage per UTC day and its tasks' counts by status: what the TeamStats table holds
(dispatch/counters.py keeps it from the stream; GET /v1/usage and the list's total read it).

What each figure counts, exactly:
- `tasksCreated`: tasks inserted (every API dialect, HTTP and function tasks), on their creation day.
- `attempts`: executor runs, one per claim (a write that puts a new `claimedAt` on a `processing`
  task: a retry's run and a run taking over a crashed one's stale claim each count once).
- `polls`: a provider job's status polls the task recorded (the growth of its `poll.polls`; the
  poll that finds the job done ends the task instead and is not among them).
- `bytesStored`: what the task stores, in bytes, counted once when it is written: its request
  (`body`, UTF-8, or a function task's `args` as compact JSON) at insert; at its terminal status its
  `result` (compact JSON; plus `bodySize` when the answer's body went to S3), its `output`'s size
  and each of its provider `outputs`' sizes. It is bytes written that day, not bytes held: an
  expired task does not subtract them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from taskhook.model.limits import MAX_RESPONSE_BYTES
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

USAGE_FIELDS = ("tasksCreated", "attempts", "polls", "bytesStored")


@dataclass
class DayUsage:
    tasksCreated: int = 0  # noqa: N815 - the API's and the table's names
    attempts: int = 0
    polls: int = 0
    bytesStored: int = 0  # noqa: N815

    def add(self, other: DayUsage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def public(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in USAGE_FIELDS}

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in USAGE_FIELDS)


@dataclass
class Tally:
    """What a run of stream changes adds: per team, the change of its count in each status; per
    team and UTC day, its usage."""

    counts: dict[str, Counter[TaskStatus]] = field(default_factory=dict)
    usage: dict[tuple[str, date], DayUsage] = field(default_factory=dict)
    # Per team and UTC minute ("YYYY-MM-DDTHH:MM" of completedAt): tasks finished `completed` and
    # `failed` (failed or timeout), for GET /v1/stats's chart.
    finished: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)

    def finish(self, team_id: str, minute: str, outcome: str) -> None:
        self.finished.setdefault((team_id, minute), Counter())[outcome] += 1

    def count(self, team_id: str, status: TaskStatus, delta: int) -> None:
        self.counts.setdefault(team_id, Counter())[status] += delta

    def day(self, team_id: str, day: date) -> DayUsage:
        return self.usage.setdefault((team_id, day), DayUsage())

    def nonzero(self) -> Tally:
        """The same tally without its zero entries (a team whose changes cancel out writes nothing)."""
        counts = {team: Counter({s: n for s, n in c.items() if n}) for team, c in self.counts.items()}
        return Tally({t: c for t, c in counts.items() if c}, {k: u for k, u in self.usage.items() if u},
                     {k: c for k, c in self.finished.items() if c})


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def request_bytes(task: Task) -> int:
    """An inserted task's stored request: its body, or a function task's arguments."""
    size = len(task.body.encode("utf-8")) if task.body else 0
    return size + (_json_size(task.args) if task.args else 0)


def _stored_body(task: Task) -> bool:
    """Whether the result names the answer body the executor stored (run/executor.py's key, with its
    size): a polling task's result is the provider's JSON and a function task's what the function
    returned, and a `bodySize` in it is not ours to count (unbounded, it could break the counters'
    ADD or lower them)."""
    result = task.result
    if not isinstance(result, dict) or result.get("bodyKey") != f"results/{task.teamId}/{task.id}/body":
        return False
    size = result.get("bodySize")
    return isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_RESPONSE_BYTES


def outcome_bytes(task: Task) -> int:
    """A finished task's stored outcome: its result, the S3 body it names, its output files."""
    size = 0
    if task.result is not None:
        size += _json_size(task.result)
        if _stored_body(task):
            size += task.result["bodySize"]
    if task.output and isinstance(task.output.get("size"), int):
        size += task.output["size"]
    for item in task.outputs or []:
        if isinstance(item.get("size"), int):
            size += item["size"]
    return size
