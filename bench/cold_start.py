"""Cold start of every Lambda entry point: a fresh interpreter per run, as Lambda starts one.

For each function template.yaml declares (its `Handler:`, `app.<name>` on both deploy paths: on AWS
every function's init imports `app`), and for the API function once per kind of route, a new
`python` process (cwd: the project root, as /var/task) measures

- interpreter: from just before the process is spawned to its first statement (exec, the
  interpreter's own start, site-packages' .pth files);
- import: `import app` and the handler looked up, what Lambda's init runs for `app.<name>`;
- first request: the first event (tests/events/' sample for the source) through the handler:
  its route's own imports, the composition root's dependencies (boto3 clients, PynamoDB models,
  pydantic models), and the AWS calls against the stack's emulator;

and the modules in `sys.modules` after the import and after the first request, beyond those of the
bare interpreter. init = interpreter + import (Lambda's Init Duration); a cold start's first
answer = init + first request. Runs are repeated (min and median: the machine is shared).

    python -m bench.cold_start [--repeats 5] [--json out.json]   # starts its own local stack
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.template import load_template

from .stack import ROOT, LocalStack, clean_env

LOCAL_OUTBOUND_ALLOW = "127.0.0.0/8,::1,localhost"  # as the local stack's API (infra/local_stack.py)

EVENTS = ROOT / "tests" / "events"
LIMIT_MS = 250.0  # issue 17: every handler's init on this machine
# Modules whose presence after a function's import (or first request) says what it paid for.
HEAVY = ("boto3", "botocore", "pynamodb", "pydantic", "requests", "urllib3", "aws_lambda_powertools", "chalice",
         "taskhook.intake.openapi", "taskhook.intake.validation", "taskhook.model.task", "taskhook.run.executor",
         "taskhook.dispatch.stream", "taskhook.notify.delivery")
# The sample event each source sends (tests/events/README.md); the API function's routes: one row each.
SOURCE_EVENTS = {
    "execute_high": "sqs_lane_batch.json", "execute_normal": "sqs_lane_batch.json",
    "execute_low": "sqs_lane_batch.json", "on_dead_letter": "sqs_dead_letter_batch.json",
    "on_task_change": "dynamodb_stream_tasks_batch.json", "sweep": "eventbridge_schedule.json",
    "deliver_notifications": "sqs_fifo_notification.json", "ws_connect": "websocket_connect.json",
    "ws_message": "websocket_message.json", "ws_disconnect": "websocket_disconnect.json",
}
# route label -> (sample, method, path, the route's resourcePath)
API_ROUTES = {
    "POST /v1/tasks": ("http_api_create_task.json", "POST", "/v1/tasks", "/v1/tasks"),
    "GET /v1/tasks/{id}": ("http_api_get_task.json", "GET", "/v1/tasks/00000000-0000-4000-8000-000000000000",
                           "/v1/tasks/{task_id}"),
    "POST /v1/callbacks/{id}/{secret}": ("api_gateway_task_callback.json", "POST",
                                         "/v1/callbacks/00000000-0000-4000-8000-000000000000/cb_x",
                                         "/v1/callbacks/{task_id}/{secret}"),
    "GET /v1/webhooks/secret": ("api_gateway_webhook_secret.json", "GET", "/v1/webhooks/secret",
                                "/v1/webhooks/secret"),
    "GET /admins/tasks (dashboard)": ("http_api_get_task.json", "GET", "/admins/tasks", "/admins/tasks"),
    "GET /openapi.json (docs)": ("http_api_get_task.json", "GET", "/openapi.json", "/openapi.json"),
    "$default (unknown path)": ("http_api_unknown_path.json", "GET", "/v1/nothing-here", "$default"),
}

# The child: a fresh interpreter. It reads nothing of the bench (that would be imported first);
# argv[1] is a JSON request: handler name, the event, the API key.
CHILD = r"""
import time, sys
_t0 = time.time(); _p0 = time.perf_counter(); _bare = set(sys.modules)
import json, os, uuid
_job = json.loads(sys.argv[1])
_p1 = time.perf_counter()
import app
_handler = getattr(app, _job["handler"])
_p2 = time.perf_counter(); _imported = set(sys.modules)

class _Context:
    function_name = "taskhook-cold-start"; memory_limit_in_mb = 512; function_version = "$LATEST"
    log_group_name = "/aws/lambda/taskhook-cold-start"; log_stream_name = "cold-start"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:taskhook-cold-start"
    aws_request_id = str(uuid.uuid4()); _deadline = time.monotonic() + 30
    def get_remaining_time_in_millis(self): return max(0, int((self._deadline - time.monotonic()) * 1000))

_p3 = time.perf_counter()
_answer = _handler(_job["event"], _Context())
_p4 = time.perf_counter()
_status = _answer.get("statusCode") if isinstance(_answer, dict) else None
_failures = len(_answer.get("batchItemFailures", [])) if isinstance(_answer, dict) else None
_heavy = _job["heavy"]
print(json.dumps({
    "startedAt": _t0, "importMs": (_p2 - _p1) * 1000, "firstRequestMs": (_p4 - _p3) * 1000,
    "bareModules": len(_bare), "modulesAfterImport": len(_imported - _bare),
    "modulesAfterRequest": len(set(sys.modules) - _bare),
    "heavyAfterImport": [m for m in _heavy if m in _imported],
    "heavyAfterRequest": [m for m in _heavy if m in sys.modules],
    "status": _status, "batchItemFailures": _failures,
    "error": str(_answer.get("body"))[:300] if _status in (400, 500) else None,
}))
"""


def entry_points() -> list[dict[str, str]]:
    """Every function of template.yaml with its handler, the API function once per route."""
    out: list[dict[str, str]] = []
    for logical, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        handler = str(resource["Properties"]["Handler"])
        name = handler.split(".", 1)[1]
        if name == "app":
            out += [{"function": logical, "handler": name, "route": route} for route in API_ROUTES]
        else:
            out.append({"function": logical, "handler": name, "route": ""})
    return out


def _set_header(event: dict[str, Any], name: str, value: str) -> None:
    name = next((k for k in event.get("headers") or {} if k.lower() == name.lower()), name)
    event.setdefault("headers", {})[name] = value
    event.setdefault("multiValueHeaders", {})[name] = [value]


def event_for(entry: dict[str, str], key: str, target: str) -> dict[str, Any]:
    """The sample event, made harmless for the running stack: a created task is due in 29 days, the
    stream sample's URLs point at `target` (nothing leaves the machine)."""
    if entry["route"]:
        sample, method, path, resource = API_ROUTES[entry["route"]]
        event: dict[str, Any] = json.loads((EVENTS / sample).read_text())
        event.update(httpMethod=method, path=path, resource=resource)
        event["requestContext"].update(httpMethod=method, path=path, resourcePath=resource)
        event["pathParameters"] = None
        event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
        if "{task_id}" in resource:
            parts = path.split("/")
            event["pathParameters"] = {"task_id": parts[3]} | ({"secret": parts[4]} if len(parts) > 4 else {})
        if "/callbacks/" not in path:
            _set_header(event, "Authorization", f"Bearer {key}")
        if method == "POST" and path == "/v1/tasks":
            due = (datetime.now(UTC) + timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")  # never runs here
            body = {"targetUrl": f"{target}/cold-start", "method": "POST", "body": "{}", "delayUntil": due}
            event["body"], event["isBase64Encoded"] = json.dumps(body), False
        elif method == "GET":
            event["body"] = None
        return event
    event = json.loads((EVENTS / SOURCE_EVENTS[entry["handler"]]).read_text())
    for record in event.get("Records", []):
        for image in ("NewImage", "OldImage"):
            fields = record.get("dynamodb", {}).get(image) or {}
            for url in ("targetUrl", "onCompleteUrl"):
                if url in fields:
                    fields[url] = {"S": f"{target}/cold-start"}
    return event


def measure_once(entry: dict[str, str], env: dict[str, str], key: str, target: str) -> dict[str, Any]:
    env = {**env, "TASKHOOK_OUTBOUND_ALLOW": env.get("TASKHOOK_OUTBOUND_ALLOW") or LOCAL_OUTBOUND_ALLOW}
    job = json.dumps({"handler": entry["handler"], "event": event_for(entry, key, target), "heavy": HEAVY})
    spawned = time.time()
    done = subprocess.run([sys.executable, "-c", CHILD, job], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {entry} failed:\n{done.stderr[-3000:]}")
    run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    run["interpreterMs"] = (run.pop("startedAt") - spawned) * 1000
    run["initMs"] = run["interpreterMs"] + run["importMs"]
    run["coldMs"] = run["initMs"] + run["firstRequestMs"]
    return run


def _stat(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 1), "median": round(statistics.median(values), 1),
            "max": round(max(values), 1), "runs": len(values)}


def measure(env: dict[str, str], key: str, target: str, repeats: int,
            say: Any = lambda message: None) -> dict[str, Any]:
    """Every entry point `repeats` times, round robin (one fresh interpreter each)."""
    entries = entry_points()
    runs: dict[str, list[dict[str, Any]]] = {}
    labels = {}
    for entry in entries:
        labels[f"{entry['function']} {entry['route']}".strip()] = entry
    for repeat in range(repeats):
        say(f"  cold start: round {repeat + 1}/{repeats} over {len(labels)} entry points")
        for label, entry in labels.items():
            runs.setdefault(label, []).append(measure_once(entry, env, key, target))
    functions = {}
    for label, entry_runs in runs.items():
        last = entry_runs[-1]
        functions[label] = {
            "handler": f"app.{labels[label]['handler']}", "route": labels[label]["route"] or None,
            **{name: _stat([r[name] for r in entry_runs])
               for name in ("interpreterMs", "importMs", "initMs", "firstRequestMs", "coldMs")},
            "modules": last["modulesAfterImport"], "modulesAfterRequest": last["modulesAfterRequest"],
            "bareModules": last["bareModules"], "heavyAfterImport": last["heavyAfterImport"],
            "heavyAfterRequest": last["heavyAfterRequest"],
            "answers": sorted({str(r["status"] if r["status"] is not None else
                                   f"{r['batchItemFailures']} failures" if r["batchItemFailures"] is not None
                                   else "ok") for r in entry_runs}),
        }
    worst = max(f["initMs"]["median"] for f in functions.values())
    return {"repeats": repeats, "limitMs": LIMIT_MS, "python": sys.version.split()[0],
            "worstInitMedianMs": worst, "withinLimit": worst <= LIMIT_MS, "functions": functions}


def run(bench: Any, repeats: int) -> dict[str, Any]:
    """The harness's scenario: against the bench's stack (its emulator), the peers frozen."""
    env = clean_env(**bench.stack.state["env"])
    with bench.alone("taskhook"):
        return measure(env, bench.key, bench.target.base, repeats, bench.say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    stack = LocalStack()
    stack.start()
    try:
        result = measure(clean_env(**stack.state["env"]), stack.state["devKey"], "http://127.0.0.1:9",
                         args.repeats, lambda message: print(message, file=sys.stderr, flush=True))
    finally:
        stack.stop()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'entry point':58} {'interp':>7} {'import':>7} {'init':>7} {'1st req':>8} {'mods':>5}  answers")
    for label, f in result["functions"].items():
        print(f"{label:58} {f['interpreterMs']['median']:7.0f} {f['importMs']['median']:7.0f} "
              f"{f['initMs']['median']:7.0f} {f['firstRequestMs']['median']:8.0f} {f['modules']:5d}  "
              f"{','.join(f['answers'])}")
    print(f"slowest init (median): {result['worstInitMedianMs']:.0f} ms; limit {LIMIT_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
