"""`make package`: the gateway responses of template.yaml (Globals.Api.GatewayResponses) as a
template for `chalice package --merge-template`, so that the API Chalice packages (its `RestAPI`,
an AWS::Serverless::Api) answers `{"error": …}` for unknown paths and API Gateway's other errors
exactly as the SAM template's API does. One list, in template.yaml.

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

from .template import load_template

CHALICE_API = "RestAPI"  # the logical id of the API in `chalice package`'s sam.json
CHALICE_EXECUTORS = ("ExecuteHigh", "ExecuteNormal", "ExecuteLow")  # app.py's lane handlers there
CHALICE_CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"
PUBLIC_URL = "TASKHOOK_PUBLIC_URL"
# The URL `chalice package`'s own EndpointURL output names (stage `api`), without its trailing slash.
CHALICE_API_URL = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}


def merge_template(config_path: Path = CHALICE_CONFIG, stage: str = "dev") -> dict[str, Any]:
    responses = load_template()["Globals"]["Api"]["GatewayResponses"]
    resources: dict[str, Any] = {CHALICE_API: {"Properties": {"GatewayResponses": responses}}}
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
