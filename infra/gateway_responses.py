"""`make package`: API Gateway's own answers for the REST API `chalice package` generates (its
`RestAPI`, an AWS::Serverless::Api), as a template for `chalice package --merge-template`, so that it
answers `{"error": …}` for unknown paths and API Gateway's other errors as the app does. API Gateway's
default for a path no route serves is 403 with a message that repeats the Authorization header (the
caller's API key); none of these templates uses a $context variable, so nothing of the request comes back.

Only the Chalice path deploys a REST API. template.yaml's HTTP API has no gateway responses: its
`$default` route sends a path no route serves to the app (functions/default_route.py, docs/deploy.md).

`chalice deploy` creates the REST API itself and has no setting for gateway responses: deploy with
`make package` and SAM/CloudFormation (or SAM's template) to get them.

The same merge gives the executors the API's own URL as TASKHOOK_PUBLIC_URL (the start of a waiting
task's callback URL, docs/waiting.md), as template.yaml does when PublicApiUrl is empty, unless
.chalice/config.json sets one. `chalice deploy` cannot: there it is config.json's value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from functions.responses import NOT_FOUND

CHALICE_API = "RestAPI"  # the logical id of the API in `chalice package`'s sam.json
CHALICE_EXECUTORS = ("ExecuteHigh", "ExecuteNormal", "ExecuteLow")  # app.py's lane handlers there
CHALICE_CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"
PUBLIC_URL = "TASKHOOK_PUBLIC_URL"
# The URL `chalice package`'s own EndpointURL output names (stage `api`), without its trailing slash.
CHALICE_API_URL = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}


def _answer(message: str, status: int | None = None) -> dict[str, Any]:
    """A gateway response: a fixed `{"error": message}` (and its status, else API Gateway's own)."""
    response: dict[str, Any] = {"ResponseTemplates": {"application/json": json.dumps({"error": message})}}
    return response if status is None else {"StatusCode": status, **response}


GATEWAY_RESPONSES: dict[str, dict[str, Any]] = {
    "MISSING_AUTHENTICATION_TOKEN": _answer(NOT_FOUND, 404),  # no resource, or no such method on it
    "RESOURCE_NOT_FOUND": _answer(NOT_FOUND, 404),
    "UNSUPPORTED_MEDIA_TYPE": _answer("Content-Type must be application/json", 415),
    "REQUEST_TOO_LARGE": _answer("Request body too large", 413),
    "THROTTLED": _answer("Rate limit exceeded. Upgrade your plan for higher limits.", 429),
    "DEFAULT_4XX": _answer("Bad request"),
    "DEFAULT_5XX": _answer("Internal error"),
}


def merge_template(config_path: Path = CHALICE_CONFIG, stage: str = "dev") -> dict[str, Any]:
    resources: dict[str, Any] = {CHALICE_API: {"Properties": {"GatewayResponses": GATEWAY_RESPONSES}}}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    configured = {**config.get("environment_variables", {}),
                  **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}.get(PUBLIC_URL)
    if not configured:
        for function in CHALICE_EXECUTORS:
            resources[function] = {"Properties": {"Environment": {"Variables": {PUBLIC_URL: CHALICE_API_URL}}}}
    return {"Resources": resources}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merge_template(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
