"""Starts and stops a peer's processes: redis-server (Debian's package) on a free 127.0.0.1
port and one Celery worker, and submits tasks to it. Each peer has its own redis-server and worker,
so that the harness can freeze one while it measures another; `result_backend=True` makes the
like-for-like peer (bench/celery_app.py: a Redis result backend with `task_track_started`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .stack import ROOT, clean_env, free_port

if TYPE_CHECKING:
    from celery import Celery

# One worker process with a thread pool, as Taskhook's runner is one process with threads:
# 4 lane workers x up to 6 concurrent records each (the asyncio default executor on 2 cores).
POOL = "threads"
CONCURRENCY = 24


class CeleryPeer:
    def __init__(self, workdir: Path, pool: str = POOL, concurrency: int = CONCURRENCY,
                 result_backend: bool = False) -> None:
        self.result_backend = result_backend
        self.workdir = workdir / ("celery-results" if result_backend else "celery")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pool, self.concurrency = pool, concurrency
        self.redis: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.broker = ""
        self.backend: str | None = None
        self.client: Celery | None = None  # this peer's app in the harness: submits, pings

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found: `make bench` installs it (apt-get install redis-server)")
        port = free_port()
        self.broker = f"redis://127.0.0.1:{port}/0"
        self.backend = f"redis://127.0.0.1:{port}/1" if self.result_backend else None
        self.redis = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "yes"],
            stdout=open(self.workdir / "redis.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        self._wait_redis()
        env = clean_env(BENCH_CELERY_BROKER=self.broker, BENCH_CELERY_BACKEND=self.backend or "")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", self.pool,
             "--concurrency", str(self.concurrency), "--loglevel", "WARNING", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-Q", "taskhook-peer", "-n", f"peer{port}@127.0.0.1"],
            cwd=ROOT, env=env, stdout=open(self.workdir / "worker.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        from .celery_app import make_app  # Celery: bench/requirements.txt, imported by the bench only

        self.client = make_app(self.broker, self.backend)
        self._wait_worker()

    def _wait_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.broker)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _wait_worker(self) -> None:
        assert self.client is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.worker is not None
            if self.worker.poll() is not None:
                raise RuntimeError(f"celery worker exited: {(self.workdir / 'worker.log').read_text()[-2000:]}")
            try:
                if self.client.control.ping(timeout=1.0):
                    return
            except Exception:  # noqa: BLE001, S110 - not up yet
                pass
            time.sleep(0.3)
        raise RuntimeError("celery worker did not answer a ping in 60 s")

    def submit(self, url: str, body: str) -> Any:
        from .celery_app import QUEUE, TASK

        assert self.client is not None
        return self.client.send_task(TASK, args=(url, "POST", body, 10.0), queue=QUEUE)

    def pids(self) -> dict[str, int]:
        assert self.redis is not None and self.worker is not None
        return {"celery-worker": self.worker.pid, "redis-server": self.redis.pid}

    def stop(self) -> None:
        for process in (self.worker, self.redis):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
