"""No-loss soak: N tasks against a target that fails 30 % of calls with 503, sometimes hangs past
the attempt's timeout and sometimes closes the connection, while the runner (the executor's
process) is killed with SIGKILL at random moments and restarted by the stack's supervisor.

Afterwards: every task is terminal, none is lost, none timed out (a soak task's attempts take
seconds against its maxWaitTime of 900 s: only a lost message, which the sweep then ends, leaves one
to time out), none finished twice (counted from the table's
DynamoDB stream: writes that moved the task from a non-terminal to a terminal status), and every
`completed` task's URL received at least one 2xx. One verdict line sums it up.

    python -m bench.soak --tasks 10000 --kills 2 [--out bench/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .load import ApiClient, fan_out
from .scenarios import TERMINAL, task_states
from .stack import LocalStack, Target, pid_alive
from .system import git_commit, machine, now_iso

HERE = Path(__file__).resolve().parent


def _say(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stream_transitions(dynamodb: Any, streams: Any, table_name: str,
                       ids: set[str]) -> tuple[Counter[str], Counter[str], int]:
    """Per task: how many writes moved it into a terminal status, and how many changed a task that
    was already terminal. Read from the whole stream of the tasks table (also used by the e2e
    tests to prove a task finished once)."""
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    finished: Counter[str] = Counter()
    after_finish: Counter[str] = Counter()
    records = 0
    for shard in streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                new = record["dynamodb"].get("NewImage", {})
                old = record["dynamodb"].get("OldImage", {})
                task_id = (new or old).get("id", {}).get("S")
                if task_id not in ids:
                    continue
                records += 1
                before, now = old.get("status", {}).get("S"), new.get("status", {}).get("S")
                if now in TERMINAL and before not in TERMINAL:
                    finished[task_id] += 1
                elif before in TERMINAL:
                    after_finish[task_id] += 1
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return finished, after_finish, records


class Lanes:
    """The three lane queues' VisibilityTimeout (how long a message a dead runner had received,
    but not claimed, stays hidden: 360 s in template.yaml)."""

    NAMES = ("QUEUE_HIGH_URL", "QUEUE_NORMAL_URL", "QUEUE_LOW_URL")

    def __init__(self, stack: LocalStack) -> None:
        self.sqs = stack.boto("sqs")
        self.urls = [stack.state["env"][name] for name in self.NAMES]

    def set_visibility(self, seconds: int) -> None:
        for url in self.urls:
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(seconds)})


def _runner_starts(stack: LocalStack) -> int:
    try:
        return (stack.state_dir / "runner.log").read_text(errors="replace").count("[runner] lanes")
    except OSError:
        return 0


def kill_runner(stack: LocalStack) -> int:
    """SIGKILL the runner and wait until the supervisor has started a new one. A shortened lane
    visibility stays as it is: the new runner's provisioning uses a queue that exists with other
    attributes (infra/provision.py), so every message it receives gets the short timeout too."""
    pid = stack.live_runner_pid()
    starts = _runner_starts(stack)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    while _runner_starts(stack) <= starts and time.monotonic() < deadline + 30:
        time.sleep(0.1)
    return pid


def run(tasks: int, kills: int = 2, clients: int = 8, lane_visibility: int | None = None,
        claim_margin: float = 3.0, schedule_seconds: float = 5.0, fail: float = 0.30, hang: float = 0.03,
        close: float = 0.03, hang_seconds: float = 4.0, attempt_timeout: int = 2, max_wait_time: int = 900,
        settle_timeout: float = 3600.0, seed: int | None = None, workdir: Path | None = None,
        say: Callable[[str], None] = _say) -> dict[str, Any]:
    seed = random.randrange(1 << 30) if seed is None else seed
    chance = random.Random(seed)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="taskhook-soak-"))
    started = time.monotonic()
    target = Target(workdir)
    target.configure(fail=fail, hang=hang, close=close, hang_seconds=hang_seconds, seed=seed)
    stack = LocalStack(workdir, TASKHOOK_CLAIM_MARGIN=str(claim_margin),
                       TASKHOOK_SCHEDULE_SECONDS=str(schedule_seconds))
    result: dict[str, Any] = {
        "date": now_iso(), "tasks": tasks, "seed": seed,
        "config": {"clients": clients, "kills": kills, "laneVisibilityTimeout": lane_visibility or "template (360 s)",
                   "claimMargin": claim_margin, "scheduleSeconds": schedule_seconds, "fail503": fail, "hang": hang,
                   "close": close, "hangSeconds": hang_seconds, "attemptTimeout": attempt_timeout,
                   "maxRetries": 3, "maxWaitTime": max_wait_time},
    }
    try:
        say(f"starting the local stack (state in {workdir}), seed {seed}")
        stack.start()
        lanes = Lanes(stack)
        deadline = time.monotonic() + 60
        while _runner_starts(stack) < 1 and time.monotonic() < deadline:  # it provisions as it starts
            time.sleep(0.1)
        if lane_visibility:
            lanes.set_visibility(lane_visibility)
        label = uuid.uuid4().hex[:8]
        prefix = f"/soak/{label}/"
        key = stack.state["devKey"]
        created: list[tuple[str, str]] = []  # (task id, path stored)
        errors: list[str] = []
        lock = threading.Lock()

        def work(client: ApiClient, index: int) -> None:
            body = {"targetUrl": f"{target.base}{prefix}{index}", "method": "POST", "body": '{"soak": true}',
                    "maxRetries": 3, "retryBackoff": "exponential", "timeout": attempt_timeout,
                    "maxWaitTime": max_wait_time}
            for _ in range(3):  # a dropped connection before the answer: try again (may duplicate)
                try:
                    code, data = client.create(body)
                except OSError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    continue
                if code == 201:
                    with lock:
                        created.append((data["task"]["id"], data["task"]["targetUrl"][len(target.base):]))
                    return
                error = f"HTTP {code}: {data}"
                break
            with lock:
                errors.append(error)

        submitter = threading.Thread(
            target=fan_out, args=(clients, list(range(tasks)), work, lambda: ApiClient(stack.url, key)), daemon=True)
        say(f"submitting {tasks} tasks with {clients} clients; target: {fail:.0%} 503, {hang:.0%} hang "
            f"{hang_seconds:g}s, {close:.0%} closed connections; {kills} runner kill(s)")
        submitter.start()
        # Kill when the target has seen these fractions of N calls: always while work is in flight.
        marks = sorted(chance.uniform(0.1, 0.9) for _ in range(kills))
        killed: list[dict[str, Any]] = []
        last = progressed = time.monotonic()
        seen = 0
        while submitter.is_alive() or marks:
            time.sleep(0.2)
            count = target.count(prefix)
            if count != seen:
                seen, progressed = count, time.monotonic()
            if marks and seen >= marks[0] * tasks:
                marks.pop(0)
                pid = kill_runner(stack)
                killed.append({"pid": pid, "atSeconds": round(time.monotonic() - started, 1), "targetCalls": seen})
                say(f"killed the runner (pid {pid}, SIGKILL) after {seen} target calls")
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                say(f"  {len(created)}/{tasks} created, target calls {seen}")
            # Give up on a kill only when the target has seen no call for a while (a slow machine, or
            # a restart's wait for hidden messages, only delays the mark).
            if not submitter.is_alive() and marks and time.monotonic() - progressed > settle_timeout:
                break
        submitter.join()
        result["createErrors"] = len(errors)
        result["createErrorSamples"] = errors[:5]
        result["kills"] = killed
        result["submitSeconds"] = round(time.monotonic() - started, 1)
        ids = [task_id for task_id, _ in created]
        say(f"all {len(ids)} tasks created ({len(errors)} create errors); waiting until every task is terminal")

        pending = set(ids)
        states: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + settle_timeout
        last = 0.0
        while pending and time.monotonic() < deadline:
            fresh = task_states(stack, sorted(pending))
            states.update(fresh)
            pending = {i for i in pending if fresh.get(i, {}).get("status") not in TERMINAL}
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                say(f"  {len(ids) - len(pending)}/{len(ids)} terminal")
            if pending:  # each check reads every pending task from the emulator: not too often
                time.sleep(2.0 if len(pending) < 500 else 10.0)
        result["settleSeconds"] = round(time.monotonic() - started - result["submitSeconds"], 1)
        result["settleDeadlineReached"] = bool(pending)
        time.sleep(2.0)  # anything still writing after the last terminal transition shows up in the stream
        states = task_states(stack, ids)
        say("reading the table's stream and the target's log")
        finished, after_finish, records = stream_transitions(
            stack.boto("dynamodb"), stack.boto("dynamodbstreams"), stack.state["env"]["TASKS_TABLE"], set(ids))
        calls = target.calls(prefix)

        answers = Counter(answer for _, _, answer in calls)
        ok_per_path: Counter[str] = Counter(path for path, _, answer in calls if answer == "200")
        completed_per_path: Counter[str] = Counter()
        path_of = dict(created)
        for task_id, state in states.items():
            if state["status"] == "completed":
                completed_per_path[path_of[task_id]] += 1
        statuses = Counter(states.get(i, {}).get("status", "missing") for i in ids)
        lost = [i for i in ids if states.get(i, {}).get("status") not in TERMINAL]
        double = [i for i in ids if finished[i] > 1]
        never_finished_in_stream = [i for i in ids if finished[i] == 0]
        no_2xx = sum(max(0, n - ok_per_path[p]) for p, n in completed_per_path.items())
        result.update({
            "created": len(ids), "statuses": dict(statuses), "lost": len(lost), "lostSamples": lost[:10],
            "doubleFinished": len(double), "doubleFinishedSamples": double[:10],
            "terminalTransitionsMissingFromStream": len(never_finished_in_stream),
            "changedAfterFinishing": sum(after_finish.values()),
            "completedWithout2xx": no_2xx, "streamRecords": records,
            "targetCalls": len(calls), "targetAnswers": dict(answers),
            "callsPerTask": round(len(calls) / len(ids), 3) if ids else None,
            "retryCounts": dict(sorted(Counter(s.get("retryCount", 0) for s in states.values()).items())),
            "runnerRestarts": len(killed), "wallSeconds": round(time.monotonic() - started, 1),
            "dlqMessages": _dlq_depth(stack),
        })
        # A soak task never runs out of maxWaitTime (900 s against at most four attempts of seconds
        # each) unless its message was lost and the sweep timed it out: a loss the sweep papered over.
        result["strandedTimeouts"] = statuses.get("timeout", 0)
        result["pass"] = (not lost and not double and no_2xx == 0 and not result["changedAfterFinishing"]
                          and not errors and len(killed) == kills and not result["strandedTimeouts"])
        result["verdict"] = verdict(result)
        return result
    except BaseException:
        say("FAILED; logs:\n" + stack.logs())
        raise
    finally:
        stack.stop()
        target.stop()


def _dlq_depth(stack: LocalStack) -> int:
    attributes = stack.boto("sqs").get_queue_attributes(
        QueueUrl=stack.state["env"]["DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def verdict(result: dict[str, Any]) -> str:
    statuses = result["statuses"]
    terminal = sum(v for k, v in statuses.items() if k in TERMINAL)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    unfinished = " (still running when the wait ended: not proven lost)" if result.get("settleDeadlineReached") else ""
    return (f"SOAK {'PASS' if result['pass'] else 'FAIL'}: {result['created']} tasks, {terminal} terminal ({detail}); "
            f"lost {result['lost']}{unfinished}, stranded (timed out) {result.get('strandedTimeouts', 0)}, "
            f"double-finished {result['doubleFinished']}, "
            f"completed without a 2xx {result['completedWithout2xx']}, changed after finishing "
            f"{result['changedAfterFinishing']}; runner killed {len(result['kills'])}x; "
            f"{result['targetCalls']} target calls ({result['callsPerTask']}/task); create errors "
            f"{result['createErrors']}; {result['wallSeconds']:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lane-visibility", type=int, default=None,
                        help="shorten the lanes' VisibilityTimeout (template: 360 s) so work a killed runner had "
                             "received but not claimed comes back sooner")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "soak.json")
    parser.add_argument("--report", type=Path, default=HERE / "report.md")
    args = parser.parse_args(argv)
    result = run(args.tasks, args.kills, args.clients, args.lane_visibility, seed=args.seed)
    result["git"] = git_commit()
    result["machine"] = machine()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    results_file = HERE / "results.json"
    if results_file.exists():
        from . import report

        report.write(results_file, args.report)
    print(result["verdict"], flush=True)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

