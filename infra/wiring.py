"""Which handler each event source invokes, read from template.yaml's function Events, so the
local runner wires exactly what AWS would: SQS queues, the table's stream, the schedule."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .template import load_template


@dataclass(frozen=True)
class EventSource:
    kind: str  # "SQS" | "DynamoDB" | "Schedule" | "WebSocket"
    handler: str  # "app.execute_high"
    resource: str  # logical id of the queue or table ("" for a schedule)
    batch_size: int
    timeout: int  # the function's timeout, seconds (for the Lambda context)
    max_concurrency: int = 0
    rate_seconds: int = 0
    route: str = ""  # WebSocket route key: $connect, $default, $disconnect
    priority_lane: bool = False  # one of the executor's lanes (Metadata PriorityLane)


def _rate_seconds(expression: str) -> int:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        raise ValueError(f"unsupported schedule {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


def _logical_id(ref: Any) -> str:
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        return str(ref["Fn::GetAtt"][0])
    raise ValueError(f"event source must be !GetAtt <Resource>.Arn, got {ref!r}")


def _websocket_routes(template: dict[str, Any], timeouts: dict[str, int]) -> list[EventSource]:
    """API Gateway v2 WebSocket routes -> their Lambda integration's function handler."""
    resources = template["Resources"]
    out = []
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        target = json.dumps(props.get("Target", ""))
        integration = re.search(r'"Ref": "(\w+)"', target)
        if not integration:
            continue
        uri = json.dumps(resources[integration.group(1)]["Properties"]["IntegrationUri"])
        function = re.search(r"\$\{(\w+)\.Arn\}", uri)
        if not function:
            continue
        handler = resources[function.group(1)]["Properties"]["Handler"]
        out.append(EventSource("WebSocket", handler, function.group(1), 1, timeouts[function.group(1)],
                               route=props["RouteKey"]))
    return out


def event_sources(template: dict[str, Any] | None = None) -> list[EventSource]:
    template = template or load_template()
    default_timeout = int(template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    sources = []
    timeouts = {name: int(r["Properties"].get("Timeout", default_timeout))
                for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        timeout = int(props.get("Timeout", default_timeout))
        lane = bool(resource.get("Metadata", {}).get("PriorityLane"))
        for event in props.get("Events", {}).values():
            kind, eprops = event["Type"], event.get("Properties", {})
            if kind == "SQS":
                sources.append(EventSource(
                    "SQS", props["Handler"], _logical_id(eprops["Queue"]), int(eprops.get("BatchSize", 10)),
                    timeout, int(eprops.get("ScalingConfig", {}).get("MaximumConcurrency", 0)),
                    priority_lane=lane,
                ))
            elif kind == "DynamoDB":
                sources.append(EventSource("DynamoDB", props["Handler"], _logical_id(eprops["Stream"]),
                                           int(eprops.get("BatchSize", 100)), timeout))
            elif kind == "Schedule":
                sources.append(EventSource("Schedule", props["Handler"], "", 1, timeout,
                                           rate_seconds=_rate_seconds(eprops["Schedule"])))
    return sources + _websocket_routes(template, timeouts)
