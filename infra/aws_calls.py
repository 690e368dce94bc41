"""Counts every AWS API call a local-stack process makes, for the benchmarks' cost model.

When TASKHOOK_AWS_CALL_LOG=<dir> is set, `install_from_env(role)` wraps botocore's
`BaseClient._make_api_call` (the one door every boto3, PynamoDB and Powertools client goes
through) and counts calls by function, service and operation. "Function" is the Lambda the call
was made for: the API (every HTTP request the local API Gateway serves), the handler the runner
invoked (executor, stream dispatcher, sweep, dead letters), or "" for calls outside any invocation
(the runner's own polling: on AWS, Lambda's event source mappings make those). Invocations and
their wall time are counted too (Lambda requests and GB-seconds).

DynamoDB calls are priced as well: the capacity units each consumed, per table and per index
(bench/units.py `call_units`, the tables' layout from template.yaml and the functions' environment).
To price a write the log asks DynamoDB for the item it replaced or wrote (`ReturnValues`,
`ReturnValuesOnConditionCheckFailure`) when the caller did not, and removes that from the answer
before the caller sees it. The tasks table's successful writes are priced from its stream instead
(both images); the harness reads it.

Each process writes `<dir>/<role>-<pid>.json` atomically, every FLUSH_SECONDS while its counts
change and at exit. When the variable is unset nothing is patched and nothing runs.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

ENV_CALL_LOG = "TASKHOOK_AWS_CALL_LOG"
FLUSH_SECONDS = 0.5
API_FUNCTION = "api"

_function: contextvars.ContextVar[str] = contextvars.ContextVar("taskhook_lambda_function", default="")


class CallLog:
    def __init__(self, directory: Path, role: str) -> None:
        self.path = directory / f"{role}-{os.getpid()}.json"
        self.role = role
        self.calls: Counter[str] = Counter()  # "function|service|operation"
        self.empty_receives: Counter[str] = Counter()  # "function|queue name"
        self.invocations: dict[str, dict[str, float]] = {}
        self.units: Counter[str] = Counter()  # "function|table|index|write or read" -> capacity units
        self.unit_notes: Counter[str] = Counter()  # "function|table|operation|note"
        self.largest: dict[str, int] = {}  # table -> the largest item priced, bytes
        self._lock = threading.Lock()
        self._version = 0
        self._written = -1

    def count_call(self, service: str, operation: str, empty: bool = False) -> None:
        function = _function.get()
        with self._lock:
            self.calls[f"{function}|{service}|{operation}"] += 1
            if empty:
                self.empty_receives[f"{function}|{service}|{operation}"] += 1
            self._version += 1

    def count_units(self, ledger: Any) -> None:
        """Add a `bench.units.Ledger` of one call, under the current function."""
        function = _function.get()
        with self._lock:
            for key, units in ledger.units.items():
                self.units[f"{function}|{key}"] += units
            for key, count in ledger.notes.items():
                self.unit_notes[f"{function}|{key}"] += count
            for table, size in ledger.largest.items():
                self.largest[table] = max(self.largest.get(table, 0), size)
            self._version += 1

    def count_invocation(self, function: str, records: int, seconds: float) -> None:
        with self._lock:
            entry = self.invocations.setdefault(function, {"count": 0, "records": 0, "seconds": 0.0})
            entry["count"] += 1
            entry["records"] += records
            entry["seconds"] += seconds
            self._version += 1

    def flush(self) -> None:
        with self._lock:
            if self._version == self._written:
                return
            data = {
                "role": self.role, "pid": os.getpid(), "updated": time.time(),
                "calls": dict(self.calls), "emptyReceives": dict(self.empty_receives),
                "invocations": {k: dict(v) for k, v in self.invocations.items()},
                "dynamoUnits": dict(self.units), "dynamoNotes": dict(self.unit_notes),
                "largestItems": dict(self.largest),
            }
            version = self._version
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError:
            return
        self._written = version


_log: CallLog | None = None


def _dynamo_layout() -> Any:
    """The tables of template.yaml by the physical names this process's environment gives them."""
    from bench.units import layout_from_env
    from infra.local_stack import ENV_PREFIX
    from infra.template import load_template

    return layout_from_env(load_template(), os.environ, os.environ.get(ENV_PREFIX))


def _priced_call(log: CallLog, layout: Any, original: Any, client: Any, operation_name: str,
                 api_params: dict[str, Any]) -> Any:
    """One DynamoDB call, priced (bench/units.py); the caller sees the answer it asked for."""
    from botocore.exceptions import ClientError

    from bench.units import call_units, hide_injected, injected_params

    extra = injected_params(operation_name, api_params)
    params = {**api_params, **extra}
    try:
        answer = original(client, operation_name, params)
    except ClientError as exc:
        _price(log, call_units, layout, operation_name, params, None, exc.response)
        hide_injected(extra, exc.response)
        raise
    _price(log, call_units, layout, operation_name, params, answer)
    hide_injected(extra, answer)
    return answer


def _price(log: CallLog, compute: Any, *args: Any) -> None:
    try:
        log.count_units(compute(*args))
    except Exception:  # noqa: BLE001 - pricing must never break the call it prices
        with log._lock:
            log.unit_notes["|?|?|not priced"] += 1


def _patch_botocore(log: CallLog, layout: Any = None) -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    if getattr(original, "_taskhook_counted", False):
        return

    def counted(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        try:
            if service == "dynamodb" and layout is not None:
                answer = _priced_call(log, layout, original, self, operation_name, api_params)
            else:
                answer = original(self, operation_name, api_params)
        except Exception:
            log.count_call(service, operation_name)  # an error answer is a billed request too
            raise
        empty = operation_name == "ReceiveMessage" and not answer.get("Messages")
        log.count_call(service, operation_name, empty)
        return answer

    counted._taskhook_counted = True  # type: ignore[attr-defined]
    BaseClient._make_api_call = counted  # type: ignore[method-assign]


def _patch_api_gateway(log: CallLog) -> None:
    """Every request Chalice's local API Gateway serves is one API Gateway request and one
    invocation of the api Lambda."""
    from chalice.local import LocalGateway

    original = LocalGateway.handle_request

    def handle_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _function.set(API_FUNCTION)
        started = time.monotonic()
        try:
            return original(self, *args, **kwargs)
        finally:
            log.count_invocation(API_FUNCTION, 1, time.monotonic() - started)
            _function.reset(token)

    LocalGateway.handle_request = handle_request  # type: ignore[method-assign]


def _patch_runner(log: CallLog, runner: ModuleType) -> None:
    """The runner invokes handlers through its module-level `invoke(source, event)`."""
    original = runner.invoke

    def invoke(source: Any, event: dict[str, Any]) -> Any:
        function = str(source.handler)
        token = _function.set(function)
        started = time.monotonic()
        try:
            return original(source, event)
        finally:
            log.count_invocation(function, len(event.get("Records") or []) or 1, time.monotonic() - started)
            _function.reset(token)

    runner.invoke = invoke  # type: ignore[attr-defined]


def _patch_thread_pools() -> None:
    """A call a handler makes on a worker thread of its own pool (the executor runs each record of
    a batch on one: `loop.run_in_executor`, which does not carry context variables) belongs to the
    invocation that submitted it: every submit runs in the submitter's context."""
    from concurrent.futures import ThreadPoolExecutor

    original = ThreadPoolExecutor.submit
    if getattr(original, "_taskhook_context", False):
        return

    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    submit._taskhook_context = True  # type: ignore[attr-defined]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]


def _flush_forever(log: CallLog) -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        log.flush()


def install_from_env(role: str, runner: ModuleType | None = None) -> CallLog | None:
    """Start counting if TASKHOOK_AWS_CALL_LOG names a directory; otherwise do nothing at all.
    `role` names the process (api, runner, supervisor); pass the runner's module as `runner`."""
    global _log
    directory = os.environ.get(ENV_CALL_LOG)
    if not directory or _log is not None:
        return _log
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    log = CallLog(path, role)
    _patch_botocore(log, _dynamo_layout())
    _patch_thread_pools()
    if role == "api":
        _patch_api_gateway(log)
    if runner is not None:
        _patch_runner(log, runner)
    threading.Thread(target=_flush_forever, args=(log,), name="aws-call-log", daemon=True).start()
    atexit.register(log.flush)
    _log = log
    return log


def read_counts(directory: Path) -> dict[str, Any]:
    """Every process's counts in `directory`, added up: {"calls", "emptyReceives", "invocations",
    "dynamoUnits", "dynamoNotes", "largestItems"}."""
    calls: Counter[str] = Counter()
    empty: Counter[str] = Counter()
    units: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    largest: dict[str, int] = {}
    invocations: dict[str, dict[str, float]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        calls.update(data.get("calls", {}))
        empty.update(data.get("emptyReceives", {}))
        units.update(data.get("dynamoUnits", {}))
        notes.update(data.get("dynamoNotes", {}))
        for table, size in data.get("largestItems", {}).items():
            largest[table] = max(largest.get(table, 0), size)
        for function, entry in data.get("invocations", {}).items():
            total = invocations.setdefault(function, {"count": 0, "records": 0, "seconds": 0.0})
            for key in total:
                total[key] += entry.get(key, 0)
    return {"calls": dict(calls), "emptyReceives": dict(empty), "invocations": invocations,
            "dynamoUnits": dict(units), "dynamoNotes": dict(notes), "largestItems": largest}


def difference(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """What happened between two `read_counts` snapshots."""
    def sub(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}

    invocations = {}
    for function, entry in after["invocations"].items():
        delta = sub(entry, before["invocations"].get(function, {}))
        if delta.get("count"):
            invocations[function] = {"count": 0, "records": 0, "seconds": 0.0, **delta}
    return {"calls": sub(after["calls"], before["calls"]),
            "emptyReceives": sub(after["emptyReceives"], before["emptyReceives"]),
            "invocations": invocations,
            "dynamoUnits": sub(after.get("dynamoUnits", {}), before.get("dynamoUnits", {})),
            "dynamoNotes": sub(after.get("dynamoNotes", {}), before.get("dynamoNotes", {})),
            # the largest item seen up to the end of the window (not per window)
            "largestItems": dict(after.get("largestItems", {}))}
