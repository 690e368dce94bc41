"""Tasks whose headers use the Token Vault (`Authorization: Bearer tok_…`): what a vault token costs
per task. The executor reads the token's row for every task (one strongly consistent GetItem) and
decrypts only on a cache miss (keyed by ciphertext), so KMS Decrypt calls per task fall towards
(executor processes x tokens) / tasks; the figures come from the counted AWS calls.

Alone, against a fresh local stack (what `make bench-vault` runs):
    python -m bench.scenarios.vault --tasks 100
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from .. import cost
from ..load import ApiClient
from ..stack import LocalStack, Target
from . import Bench
from .e2e import _run, task_body


def run(bench: Bench, n: int, clients: int) -> dict[str, Any]:
    label = uuid.uuid4().hex[:8]
    prefix = f"/vault/{label}/"
    code, made = ApiClient(bench.stack.url, bench.key).request(
        "POST", "/v1/tokens", {"name": f"bench-{label}", "value": f"bench-secret-{uuid.uuid4().hex}"})
    if code != 201:
        raise RuntimeError(f"storing the bench's token answered {code}: {made}")
    token_id = made["token"]["id"]

    def make_client() -> ApiClient:
        return ApiClient(bench.stack.url, bench.key)

    def submit(client: ApiClient, index: int) -> tuple[bool, str | None, str]:
        body = {**task_body(f"{bench.target.base}{prefix}{index}"),
                "headers": {"Authorization": f"Bearer {token_id}"}}
        status, data = client.create(body)
        if status != 201:
            return False, None, ""
        return True, data["task"]["id"], data["task"]["targetUrl"][len(bench.target.base):]

    with bench.alone("taskhook"):
        result = _run(bench, "taskhook", n, clients, None, submit, make_client, bench.taskhook_pids(), prefix)
    result["kms"] = kms_figures(result["awsCalls"], max(1, result["created"]))
    result["cost"] = cost.per_task(result["awsCalls"], max(1, result["created"]), result.get("streamUnits"),
                                   result["usage"]["cpuSeconds"], result.get("sizes"))
    return result


def kms_figures(calls: dict[str, Any], tasks: int) -> dict[str, Any]:
    """KMS calls per task by operation and function, and the vault's row reads per task."""
    kms: dict[str, float] = {}
    for key, count in calls["calls"].items():
        function, service, operation = key.split("|")
        if service == "kms":
            kms[f"{function or 'runner'}:{operation}"] = round(count / tasks, 4)
    return {"tasks": tasks, "kmsCallsPerTask": kms,
            "decryptPerTask": round(sum(v for k, v in kms.items() if k.endswith(":Decrypt")), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="taskhook-bench-vault-"))
    target, stack = Target(workdir), LocalStack(workdir)
    try:
        stack.start()
        bench = Bench(stack, target, {}, key=stack.state["devKey"])
        result = run(bench, args.tasks, args.clients)
    finally:
        stack.stop()
        target.stop()
    c = result["cost"]
    print(json.dumps({"tasks": result["created"], "terminalStatuses": result.get("terminalStatuses"),
                      "kms": result["kms"], "kmsCost": c["cost"].get("kms.request"),
                      "awsRequestsPerTask": c["awsRequestsPerTask"], "usdPerMillionTasks": c["usdPerMillionTasks"]},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
