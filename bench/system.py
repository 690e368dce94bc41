"""What the benchmarks read from the machine: the machine itself, and each process's CPU time and
peak memory from /proc (no sampling: utime+stime are exact tick counters)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PACKAGES = ["boto3", "botocore", "moto", "pynamodb", "chalice", "aws-lambda-powertools", "pydantic", "requests",
            "werkzeug", "flask", "celery", "kombu", "redis"]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds `pid` has used so far (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the largest resident set the process has had (since start or since reset_peak)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def reset_peak(pid: int) -> bool:
    """Start VmHWM over from the current RSS (Linux: 5 > /proc/pid/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy (from /proc/stat), for the load that
    other processes put on it while a scenario ran."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS


class Meter:
    """CPU seconds and peak RSS of named processes over one measured interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.start_cpu: dict[str, float] = {}
        self.start_busy = 0.0
        self.start_wall = 0.0
        self.peak_reset = False

    def start(self) -> None:
        import time

        self.peak_reset = all(reset_peak(pid) for pid in self.pids.values())
        self.start_cpu = {name: cpu_seconds(pid) or 0.0 for name, pid in self.pids.items()}
        self.start_busy = machine_busy_seconds()
        self.start_wall = time.monotonic()

    def stop(self) -> dict[str, Any]:
        import time

        wall = time.monotonic() - self.start_wall
        cpu = {}
        for name, pid in self.pids.items():
            now = cpu_seconds(pid)
            cpu[name] = None if now is None else round(now - self.start_cpu[name], 3)
        busy = machine_busy_seconds() - self.start_busy
        ours = sum(v for v in cpu.values() if v)
        return {
            "wallSeconds": round(wall, 3),
            "cpuSeconds": cpu,
            "peakRssMb": {name: _round(peak_rss_mb(pid)) for name, pid in self.pids.items()},
            "peakRssSince": "scenario start" if self.peak_reset else "process start",
            "machineBusySeconds": round(busy, 3),
            "otherProcessesCpuSeconds": round(max(0.0, busy - ours), 3),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _redis_server_version() -> str | None:
    binary = shutil.which("redis-server")
    if not binary:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
    return None


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": commit, "dirty": dirty}
    return {"commit": None, "dirty": None}


class _Probe:
    def __init__(self, n: int) -> None:
        self.n = n

    def step(self, seen: dict[str, int]) -> int:
        key = f"k{self.n % 97}"
        seen[key] = seen.get(key, 0) + 1
        return self.n + 1


def speed_probe(rounds: int = 5) -> float:
    """CPU milliseconds of one fixed workload, best of `rounds`: what the stack's processes do most
    (JSON, dicts, method calls, hashing), on this Python, in this process. The same code takes more
    CPU time when the machine is slower (another tenant on the host, a lower clock): CPU figures of
    runs on different days compare through it. Lower is faster."""
    doc = {f"field{i}": ["v" * 20, i, {"n": i * 1.5, "s": "x" * 10}] for i in range(40)}
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        probe, seen = _Probe(0), {}
        for _ in range(300):
            text = json.dumps(doc)
            back = json.loads(text)
            hashlib.sha256(text.encode()).hexdigest()
            sorted(back)
            for _ in range(100):
                probe.n = probe.step(seen)
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)


def machine() -> dict[str, Any]:
    return {
        "cpuModel": _cpu_model(),
        "cores": os.cpu_count(),
        "memoryGiB": _memory_gib(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "pythonImplementation": platform.python_implementation(),
        "packages": {p: _version(p) for p in PACKAGES},
        "redisServer": _redis_server_version(),
        "loadAverageAtStart": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
        "speedProbeMs": speed_probe(),
    }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
