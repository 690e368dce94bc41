"""Lists that stay flat: one team's `GET /v1/tasks` at 1k, 10k and 100k tasks (quick: 1k, 10k).

The team's history is seeded straight into the local stack's emulator (BatchWriteItem, 25 items a
call, a few threads), each item built from a `Task` the way `DynamoTaskRepository.put_new` builds it
(the same index attributes and packing) plus the `expiresAt` a finished task carries. The mix:
`OPEN_TASKS` open tasks (delayed 20 days ahead: nothing runs them while the list is measured; the
stream's outbox sends only what is due within 15 minutes), the rest finished: mostly completed,
some failed, cancelled and timed out. The sizes grow one team: 1k, then 9k more, then 90k more,
each batch older than the one before (history grows backwards; the open tasks stay the newest).

Every seeded row also reaches the tasks stream, whose dispatcher would take minutes to count 100k
rows: the runner is paused (SIGSTOP) for the scenario and the team's counts are set to the seeded
mix (`set_counts`, what `recount` does), so that `pagination.total` is right and nothing else runs
on the cores while the list is measured.

Latency is the local stack's, and moto's Query of an index examines every item of the table
(moto/dynamodb/models/table.py, `Table.query`), so it grows with the table here, whatever the API
reads. The read units are DynamoDB's rules applied to what each call read (bench/units.py): they
are what AWS bills, and what its latency follows (a Query reads only its partition's range).

Measured for each size, through the real API (HTTP, the team's key), each call repeated a few
times: latency (median) and DynamoDB read units per call (the API's call log: units by table and
index, calls by operation):
- `first`: the first page (no filter, limit 100);
- `cursor90`: the page after the row 90 % into the list, by a cursor (built with the API's own
  encoder from the seeded row's position, and checked: the page starts at the next seeded row);
- `failed`: status=failed (a final status: one partition);
- `delayed`: status=delayed (an open status: the open partition, filtered on its items);
- `pending`: status=pending, which no seeded task is in: the whole open partition is read and
  nothing matches (bounded by the open tasks, not by the history);
- `offset5000` (`offset900` at 1k) and `offset90` (at 10k, once): an offset reads every key
  before it. Quick mode leaves out `pending` and `offset90`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from infra import aws_calls

from ..load import ApiClient
from . import Bench

OPEN_TASKS = 200  # open at every size: the open partition stays this size as the history grows
OPEN_STATUS = "delayed"
SHARES = {"failed": 0.05, "cancelled": 0.02, "timeout": 0.01}  # of the finished tasks; completed: the rest
PAGE = 100  # the limit of every measured call
WRITE_BATCH = 25  # DynamoDB's limit per BatchWriteItem
WRITERS = 4
SECOND = timedelta(seconds=1)


def mix(total: int) -> dict[str, int]:
    """The statuses of a team with `total` tasks: OPEN_TASKS open (fewer when the team is
    smaller), of the rest SHARES failed / cancelled / timeout and completed the remainder."""
    opened = min(OPEN_TASKS, total)
    finished = total - opened
    counts = {status: int(finished * share) for status, share in SHARES.items()}
    counts["completed"] = finished - sum(counts.values())
    counts[OPEN_STATUS] = opened
    return {status: n for status, n in counts.items() if n}


def added(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What grows a team from the mix `before` to the mix `after` (never a negative count)."""
    delta = {status: after.get(status, 0) - before.get(status, 0) for status in after}
    if any(n < 0 for n in delta.values()):
        raise ValueError(f"cannot shrink {dict(before)} to {dict(after)}")
    return {status: n for status, n in delta.items() if n}


def statuses_for(delta: Mapping[str, int], seed: int) -> list[str]:
    """One status per new task, newest first: the open ones first (open tasks are recent), the
    finished ones shuffled (deterministically, by `seed`)."""
    finished = [s for s, n in sorted(delta.items()) if s != OPEN_STATUS for _ in range(n)]
    random.Random(seed).shuffle(finished)
    return [OPEN_STATUS] * delta.get(OPEN_STATUS, 0) + finished


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_fields(team: str, number: int, status: str, created: datetime, target: str) -> dict[str, Any]:
    """The Task (model/task.py) of seeded task `number`, as the stack would hold it in `status`."""
    fields: dict[str, Any] = {
        "id": f"list-{team}-{number:07d}", "teamId": team, "status": status,
        "targetUrl": f"{target}/lists/{number}", "body": f'{{"n": {number}}}',
        "createdAt": iso(created), "updatedAt": iso(created + 2 * SECOND),
    }
    if status == OPEN_STATUS:
        fields.update(delayUntil=iso(created + timedelta(days=20)), updatedAt=iso(created))
        return fields
    fields.update(completedAt=iso(created + 2 * SECOND), version=4, statusVersion=4)
    if status != "cancelled":
        fields.update(startedAt=iso(created + SECOND), claimedAt=iso(created + SECOND))
    if status == "completed":
        fields["result"] = {"statusCode": 200, "headers": {"content-type": "application/json"},
                            "body": f'{{"ok": true, "n": {number}}}'}
    elif status == "failed":
        fields.update(retryCount=3, error="HTTP 500",
                      result={"statusCode": 500, "headers": {}, "body": '{"error": "boom"}'})
    elif status == "timeout":
        fields["error"] = "Timed out after 30s"
    return fields


def items_for(model: type[Any], tasks: Sequence[Any], retention_days: int) -> list[dict[str, Any]]:
    """DynamoDB items (attribute-value JSON) of `tasks`, built as `DynamoTaskRepository.put_new`
    builds its item (index attributes, packing), with the `expiresAt` a finished task gets."""
    from taskhook.adapters.dynamo.packing import pack_fields
    from taskhook.adapters.dynamo.tasks import _index_attributes
    from taskhook.model.retention import expires_at

    out = []
    for task in tasks:
        data = task.model_dump(mode="json", exclude_none=True)
        data.update(_index_attributes(task))
        pack_fields(data)
        if task.completedAt:
            data["expiresAt"] = expires_at(task.completedAt, retention_days)
        item = model(**{k: v for k, v in data.items() if v is not None})
        out.append(item.serialize())
    return out


def write_items(client: Any, table: str, items: Sequence[Mapping[str, Any]], writers: int = WRITERS) -> int:
    """BatchWriteItem, 25 items a call from `writers` threads, unprocessed items sent again.
    Returns the number of calls made."""
    calls = Counter[str]()
    lock = threading.Lock()

    def send(chunk: Sequence[Mapping[str, Any]]) -> None:
        request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        pause = 0.05
        while request:
            answer = client.batch_write_item(RequestItems=request)
            with lock:
                calls["batch"] += 1
            request = answer.get("UnprocessedItems") or {}
            if request:
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    chunks = [items[i:i + WRITE_BATCH] for i in range(0, len(items), WRITE_BATCH)]
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(send, chunks))
    return calls["batch"]


def read_units(calls: Mapping[str, Any], repeats: int) -> dict[str, Any]:
    """The API's DynamoDB read units and calls per request from a call-log difference: by
    table|index (Tasks|byTeamPhase is the Query of keys, Tasks| the BatchGetItem of items,
    TeamStats| the total's GetItem) and by operation."""
    units: dict[str, float] = {}
    for key, value in calls.get("dynamoUnits", {}).items():
        function, table, index, kind = key.split("|")
        if function == aws_calls.API_FUNCTION and kind == "read":
            name = f"{table}|{index}" if index else table
            units[name] = units.get(name, 0.0) + value
    operations: dict[str, float] = {}
    for key, count in calls.get("calls", {}).items():
        function, service, operation = key.split("|")
        if function == aws_calls.API_FUNCTION and service == "dynamodb":
            operations[operation] = operations.get(operation, 0) + count
    per = max(1, repeats)
    return {"rcuPerCall": round(sum(units.values()) / per, 2),
            "rcuByTableIndex": {k: round(v / per, 2) for k, v in sorted(units.items())},
            "dynamoCallsPerCall": {k: round(v / per, 2) for k, v in sorted(operations.items())}}


class Seeded:
    """The team's seeded tasks, newest first: (createdAt, id, status) of each."""

    def __init__(self, team: str, now: datetime) -> None:
        self.team = team
        self.now = now
        self.rows: list[tuple[str, str, str]] = []
        self.counts: Counter[str] = Counter()

    def grow(self, bench: Bench, total: int) -> dict[str, Any]:
        """Seed the team up to `total` tasks (older than those already there)."""
        from taskhook.adapters.dynamo.tables import build_task_model
        from taskhook.model.retention import DEFAULT_RETENTION_DAYS
        from taskhook.model.task import Task

        env = bench.stack.state["env"]
        model = build_task_model(env["TASKS_TABLE"], env["AWS_REGION"], env["AWS_ENDPOINT_URL"])
        delta = added(self.counts, mix(total))
        statuses = statuses_for(delta, seed=total)
        start = len(self.rows)
        tasks = []
        for offset, status in enumerate(statuses):
            number = start + offset
            created = self.now - number * SECOND  # one a second, going back in time
            tasks.append(Task(**task_fields(self.team, number, status, created, bench.target.base)))
        started = time.monotonic()
        items = items_for(model, tasks, DEFAULT_RETENTION_DAYS)
        built = time.monotonic() - started
        calls = write_items(bench.stack.boto("dynamodb"), env["TASKS_TABLE"], items)
        written = time.monotonic() - started
        self.rows += [(t.createdAt, t.id, t.status.value) for t in tasks]
        self.counts.update(delta)
        return {"added": len(tasks), "buildSeconds": round(built, 2), "seedSeconds": round(written, 2),
                "batchWriteCalls": calls, "itemsPerSecond": round(len(tasks) / max(written, 1e-9))}

    def position(self, fraction: float) -> tuple[str, str, str | None]:
        """(createdAt, id) of the row `fraction` into the list (newest first), and the id of the row
        after it (None at the end)."""
        ordered = sorted(self.rows, key=lambda r: (r[0], r[1]), reverse=True)
        index = min(len(ordered) - 1, int(len(ordered) * fraction))
        after = ordered[index + 1][1] if index + 1 < len(ordered) else None
        return ordered[index][0], ordered[index][1], after


def set_counts(bench: Bench, team: str, counts: Mapping[str, int]) -> None:
    """The team's TeamStats counts set to the seeded mix, as `recount` would set them."""
    from taskhook.adapters.dynamo.team_stats import DynamoTeamStats
    from taskhook.model.status import TaskStatus

    env = bench.stack.state["env"]
    stats = DynamoTeamStats(bench.stack.boto("dynamodb"), env["TEAM_STATS_TABLE"])
    stats.set_counts(team, {TaskStatus(s): n for s, n in counts.items()})


@contextlib.contextmanager
def stream_paused(bench: Bench) -> Iterator[None]:
    """The stack's runner (stream dispatcher, queues, sweep) stopped (SIGSTOP) while the team is
    seeded and its list measured, SIGCONT afterwards: nothing else runs in this scenario, and the
    dispatcher would otherwise spend minutes counting the seeded rows on the cores the API and
    the emulator are measured on. Once resumed it counts them again: the team's counts are off
    after the scenario (it runs last, or alone)."""
    pid = bench.stack.live_runner_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def median_ms(values: Sequence[float]) -> float:
    return round(1000 * statistics.median(values), 1)


def measure(bench: Bench, client: ApiClient, params: Mapping[str, Any], repeats: int) -> dict[str, Any]:
    """One kind of list call, `repeats` times: median latency and read units per call."""
    path = "/v1/tasks?" + urlencode(dict(params))
    before = bench.stack.aws_counts()  # the calls before have been flushed (the sleep below)
    latencies = []
    for _ in range(repeats):
        started = time.perf_counter()
        code, data = client.request("GET", path)
        latencies.append(time.perf_counter() - started)
        if code != 200:
            raise RuntimeError(f"GET {path} answered {code}: {data}")
    time.sleep(aws_calls.FLUSH_SECONDS + 0.3)  # let the API's call log flush
    calls = aws_calls.difference(bench.stack.aws_counts(), before)
    return {"params": {k: v for k, v in params.items() if k != "cursor"}, "repeats": repeats,
            "p50Ms": median_ms(latencies), "maxMs": round(1000 * max(latencies), 1),
            "rows": len(data["tasks"]), "total": data["pagination"]["total"],
            "firstId": data["tasks"][0]["id"] if data["tasks"] else None,
            **read_units(calls, repeats)}


DEEP_OFFSET_MAX_SIZE = 10_000  # offset90 on moto: every key page re-examines the whole table


def calls_for(size: int, cursor: str, thorough: bool) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(name, query, once): the calls measured at `size`; `thorough` (full mode) adds the pending
    filter and the 90 % offset (measured once: on moto one call takes seconds per 10k rows)."""
    yield "first", {"limit": PAGE}, False
    yield "cursor90", {"limit": PAGE, "cursor": cursor}, False
    yield "failed", {"limit": PAGE, "status": "failed"}, False
    yield OPEN_STATUS, {"limit": PAGE, "status": OPEN_STATUS}, False
    if thorough:
        yield "pending", {"limit": PAGE, "status": "pending"}, False
    shallow = 5000 if size > 5000 else int(size * 0.9)
    yield f"offset{shallow}", {"limit": PAGE, "offset": shallow}, False
    if thorough and 5000 < size <= DEEP_OFFSET_MAX_SIZE:
        yield "offset90", {"limit": PAGE, "offset": int(size * 0.9)}, True


def run(bench: Bench, sizes: Sequence[int], repeats: int, thorough: bool = True) -> dict[str, Any]:
    team = f"lists-{int(time.time())}"
    key = bench.stack.create_key(team)
    client = ApiClient(bench.stack.url, key)
    seeded = Seeded(team, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    out: dict[str, Any] = {"team": team, "openTasks": OPEN_TASKS, "page": PAGE, "repeats": repeats, "sizes": {}}
    code, data = client.request("GET", "/v1/tasks?limit=1")  # warms the connection and the key's cache
    if code != 200:
        raise RuntimeError(f"GET /v1/tasks answered {code}: {data}")
    with stream_paused(bench):
        for size in sizes:
            out["sizes"][str(size)] = measure_size(bench, client, seeded, size, repeats, thorough)
    return out


def measure_size(bench: Bench, client: ApiClient, seeded: Seeded, size: int, repeats: int,
                 thorough: bool) -> dict[str, Any]:
    from taskhook.intake.listing import encode_cursor
    from taskhook.model.listing import ListQuery, Position

    bench.say(f"lists: seeding team {seeded.team} up to {size} tasks")
    seeding = seeded.grow(bench, size)
    set_counts(bench, seeded.team, seeded.counts)
    time.sleep(aws_calls.FLUSH_SECONDS + 0.3)
    bench.say(f"  seeded {seeding['added']} in {seeding['seedSeconds']}s ({seeding['itemsPerSecond']}/s)")
    created_at, task_id, next_id = seeded.position(0.9)
    cursor = encode_cursor(Position(created_at, task_id), ListQuery(limit=PAGE))
    entry: dict[str, Any] = {"tasks": size, "mix": dict(seeded.counts), "seeding": seeding, "calls": {}}
    for name, params, once in calls_for(size, cursor, thorough):
        result = measure(bench, client, params, 1 if once else repeats)
        if name == "cursor90" and result["firstId"] != next_id:
            raise RuntimeError(f"the cursor page starts at {result['firstId']}, not {next_id}")
        entry["calls"][name] = result
        bench.say(f"  {size} {name}: p50 {result['p50Ms']} ms, {result['rcuPerCall']} RCU/call, "
                  f"{result['rows']} rows, total {result['total']}")
    return entry
