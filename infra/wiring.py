"""Which handler each event source invokes, read from template.yaml's function Events, so the
local runner wires exactly what AWS would: SQS queues, the table's stream, the schedule."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .template import load_template


@dataclass(frozen=True)
class EventSource:
    kind: str  # "SQS" | "DynamoDB" | "Schedule"
    handler: str  # "app.execute_high"
    resource: str  # logical id of the queue or table ("" for a schedule)
    batch_size: int
    timeout: int  # the function's timeout, seconds (for the Lambda context)
    max_concurrency: int = 0
    rate_seconds: int = 0


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


def event_sources(template: dict[str, Any] | None = None) -> list[EventSource]:
    template = template or load_template()
    default_timeout = int(template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    sources = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        timeout = int(props.get("Timeout", default_timeout))
        for event in props.get("Events", {}).values():
            kind, eprops = event["Type"], event.get("Properties", {})
            if kind == "SQS":
                sources.append(EventSource(
                    "SQS", props["Handler"], _logical_id(eprops["Queue"]), int(eprops.get("BatchSize", 10)),
                    timeout, int(eprops.get("ScalingConfig", {}).get("MaximumConcurrency", 0)),
                ))
            elif kind == "DynamoDB":
                sources.append(EventSource("DynamoDB", props["Handler"], _logical_id(eprops["Stream"]),
                                           int(eprops.get("BatchSize", 100)), timeout))
            elif kind == "Schedule":
                sources.append(EventSource("Schedule", props["Handler"], "", 1, timeout,
                                           rate_seconds=_rate_seconds(eprops["Schedule"])))
    return sources
