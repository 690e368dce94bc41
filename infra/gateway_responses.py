"""`make package`: the gateway responses of template.yaml (Globals.Api.GatewayResponses) as a
template for `chalice package --merge-template`, so that the API Chalice packages (its `RestAPI`,
an AWS::Serverless::Api) answers `{"error": …}` for unknown paths and API Gateway's other errors
exactly as the SAM template's API does. One list, in template.yaml.

`chalice deploy` creates the REST API itself and has no setting for gateway responses: deploy with
`make package` and SAM/CloudFormation (or SAM's template) to get them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .template import load_template

CHALICE_API = "RestAPI"  # the logical id of the API in `chalice package`'s sam.json


def merge_template() -> dict[str, Any]:
    responses = load_template()["Globals"]["Api"]["GatewayResponses"]
    return {"Resources": {CHALICE_API: {"Properties": {"GatewayResponses": responses}}}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merge_template(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
