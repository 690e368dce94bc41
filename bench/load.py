"""Load generation: keep-alive HTTP clients on threads, closed-loop or paced, and the statistics
the report prints."""

from __future__ import annotations

import http.client
import json
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
R = TypeVar("R")


class ApiClient:
    """One keep-alive connection to the API, as one client program would hold."""

    def __init__(self, url: str, key: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._connection.request(method, path, body=payload, headers=self.headers)
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            self._connection = None
            raise
        if response.getheader("connection", "").lower() == "close":
            self._connection.close()
            self._connection = None
        return response.status, (json.loads(data) if data else None)

    def create(self, body: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", "/v1/tasks", body)

    def total(self, status: str) -> int:
        code, data = self.request("GET", f"/v1/tasks?status={status}&limit=1")
        if code != 200:
            raise RuntimeError(f"list tasks answered {code}: {data}")
        return int(data["pagination"]["total"])


def fan_out(clients: int, jobs: Sequence[T], work: Callable[[Any, T], R], make_client: Callable[[], Any]) -> list[R]:
    """Run `work(client, job)` for every job on `clients` threads, each with its own client,
    each taking the next job as soon as it is done with one (closed loop). Results in job order."""
    results: list[Any] = [None] * len(jobs)
    position = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker() -> None:
        client = make_client()
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            results[index] = work(client, jobs[index])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def paced(rate: float, jobs: Sequence[T], work: Callable[[Any, T], R], make_client: Callable[[], Any],
          clients: int = 8) -> list[R]:
    """Start job i at t0 + i/rate (open loop), on a pool of `clients` threads with a client each."""
    local = threading.local()

    def run(job: T) -> R:
        if not hasattr(local, "client"):
            local.client = make_client()
        return work(local.client, job)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = []
        for index, job in enumerate(jobs):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(run, job))
        return [f.result() for f in futures]


def closed_loop_for(seconds: float, clients: int, work: Callable[[Any], R], make_client: Callable[[], Any],
                    warmup: float = 1.0) -> tuple[list[R], float]:
    """`clients` threads each call `work(client)` back to back for `warmup + seconds`; returns the
    results of calls that started after the warm-up and the measured window's length."""
    results: list[R] = []
    lock = threading.Lock()
    begin = time.monotonic()
    measure_from = begin + warmup
    end = measure_from + seconds

    def worker() -> None:
        client = make_client()
        mine = []
        while True:
            started = time.monotonic()
            if started >= end:
                break
            result = work(client)
            if started >= measure_from:
                mine.append(result)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, seconds


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float], scale: float = 1000.0, digits: int = 1) -> dict[str, Any]:
    """p50/p95/p99/max/mean in milliseconds (scale 1000) of a list of durations in seconds."""
    if not seconds:
        return {"count": 0}

    def r(value: float | None) -> float | None:
        return None if value is None else round(value * scale, digits)

    return {"count": len(seconds), "p50": r(percentile(seconds, 50)), "p95": r(percentile(seconds, 95)),
            "p99": r(percentile(seconds, 99)), "max": r(max(seconds)), "mean": r(statistics.fmean(seconds))}


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    """min / median / max over repeated runs."""
    present = [v for v in values if v is not None]
    if not present:
        return {"min": None, "median": None, "max": None, "runs": 0}
    return {"min": min(present), "median": statistics.median(present), "max": max(present), "runs": len(present)}
