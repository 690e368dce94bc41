"""The task table's JSON-string attributes are decoded wherever a row arrives as a raw image: the
stream consumer (functions/events.py) decodes exactly `JSON_ATTRIBUTES`, so that list must name
every JSONAttribute of the PynamoDB model (a polling task's `poll` once stalled the stream: its
image held a string where the Task expects an object)."""

from __future__ import annotations

import json
from decimal import Decimal

from pynamodb.attributes import JSONAttribute

from functions.events import task_from_image
from taskhook.adapters.dynamo.tables import JSON_ATTRIBUTES, build_task_model


def test_every_json_attribute_of_the_task_model_is_decoded_from_stream_images() -> None:
    model = build_task_model("t", "us-east-1", None)
    json_attributes = {name for name, attr in model.get_attributes().items() if isinstance(attr, JSONAttribute)}
    assert json_attributes == set(JSON_ATTRIBUTES)


def test_a_polling_task_with_outputs_reads_from_its_stream_image() -> None:
    poll = {"statusUrl": "https://p.example/v1/predictions/abc", "polls": 2, "interval": 1.5}
    outputs = [{"key": "outputs/t/x/0-a.png", "contentType": "image/png", "size": 3, "filename": "a.png",
                "source": "https://files.example/a.png"}]
    image = {"id": "x", "teamId": "t", "status": "polling", "kind": "http", "targetUrl": "https://p.example/v1/p",
             "maxWaitTime": Decimal(3600), "createdAt": "2026-12-01T10:00:00.000Z", "claimToken": "poll-1",
             "poll": json.dumps(poll), "outputs": json.dumps(outputs)}
    task = task_from_image(image)
    assert task is not None
    assert (task.poll, task.outputs) == (poll, outputs)
