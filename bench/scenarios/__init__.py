"""The benchmark scenarios. Each takes the shared `Bench` context and returns one run's figures
as plain data (results.json holds them as they are; the report only formats them)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..celery_peer import CeleryPeer
from ..stack import LocalStack, Target

TERMINAL = {"completed", "failed", "timeout", "cancelled"}


def iso_ms(moment: float) -> str:
    """A time.time() value as Taskhook writes times: UTC, milliseconds, Z."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Bench:
    stack: LocalStack
    target: Target
    peers: dict[str, CeleryPeer]  # system name ("celery", "celeryResults") -> its peer; empty: --no-peer
    key: str
    started: float = field(default_factory=time.monotonic)

    def say(self, message: str) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(f"[bench {elapsed // 60:02d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)

    def taskhook_pids(self) -> dict[str, int]:
        return self.stack.pids()

    def peer_pids(self, system: str) -> dict[str, int]:
        return self.peers[system].pids()

    @contextlib.contextmanager
    def alone(self, system: str) -> Iterator[None]:
        """Freeze the other systems (SIGSTOP) while `system` is measured, so that none pays for
        another's idle polling on this machine's two cores; SIGCONT afterwards."""
        others = [] if system == "taskhook" else list(self.stack.pids().values())
        for name, peer in self.peers.items():
            if name != system:
                others += list(peer.pids().values())
        with frozen(others):
            yield


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """Each of `pids` stopped (SIGSTOP) for the block, and continued (SIGCONT) after it."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def task_states(stack: LocalStack, ids: list[str]) -> dict[str, dict[str, Any]]:
    """id -> {status, retryCount} read straight from the table (BatchGetItem, 100 at a time), so
    that checking thousands of tasks costs the API nothing."""
    dynamodb = stack.boto("dynamodb")
    table = stack.state["env"]["TASKS_TABLE"]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        request: dict[str, Any] = {table: {
            "Keys": [{"id": {"S": i}} for i in ids[start:start + 100]],
            "ProjectionExpression": "id, #s, retryCount, #r",
            "ExpressionAttributeNames": {"#s": "status", "#r": "result"},
        }}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table, []):
                result = item.get("result", {}).get("M", {})
                found[item["id"]["S"]] = {
                    "status": item["status"]["S"],
                    "retryCount": int(item.get("retryCount", {}).get("N", "0")),
                    "statusCode": int(result["statusCode"]["N"]) if "statusCode" in result else None,
                }
            request = answer.get("UnprocessedKeys") or {}
    return found


def wait_terminal(stack: LocalStack, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        states = task_states(stack, ids)
        if all(states.get(i, {}).get("status") in TERMINAL for i in ids) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)
