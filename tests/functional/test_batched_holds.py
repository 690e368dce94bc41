"""The lane executor's visibility changes go out grouped, on moto: a batch's claimed tasks are held
for their runs with one ChangeMessageVisibilityBatch per ten records (functions/executor.py
HoldSender), not one ChangeMessageVisibility each (issue 15: that was one SQS request per task,
$0.40 per million tasks). A hold that is not made fails its record, as a single call's error did."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import app as lambdas
from functions import executor as executor_entry
from taskhook.container import container
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import api_key, context, create_task, dispatch_through_the_stream, receive, row, sqs_event

NORMAL = "QUEUE_NORMAL_URL"


@pytest.fixture
def sqs_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The visibility calls the executor's SQS client makes."""
    calls: Counter[str] = Counter()
    client = container().sqs_messages._client
    for name in ("change_message_visibility", "change_message_visibility_batch"):
        real = getattr(client, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            if _name.endswith("_batch"):
                calls["entries"] += len(kwargs["Entries"])
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, name, counted)
    return calls


def _batch(aws: Provisioned, target: TargetServer, size: int) -> tuple[list[str], dict[str, Any]]:
    key = api_key()
    ids = [create_task(key, targetUrl=target.url(f"/held/{i}", [200]), priority=5)["id"] for i in range(size)]
    messages = [m for task_id in ids for m in dispatch_through_the_stream(aws, task_id, "normal")]
    return ids, sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages)


def test_a_batch_of_ten_is_held_with_two_batch_calls_and_no_single_ones(
        aws: Provisioned, target: TargetServer, sqs_calls: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A window wide enough for this machine's slowest claim, so that the count is exact; on AWS
    # claims take milliseconds and the default window (50 ms) groups them (`make bench` counts them).
    monkeypatch.setattr(executor_entry, "HOLD_WINDOW", 2.0)
    ids, event = _batch(aws, target, 10)

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert all(row(aws, task_id)["status"] == {"S": "completed"} for task_id in ids)
    assert sqs_calls["change_message_visibility"] == 0
    # one before any read (hold_until_claimed), one for the ten claimed runs' holds
    assert sqs_calls["change_message_visibility_batch"] == 2
    assert sqs_calls["entries"] == 20


def test_a_hold_that_is_not_made_fails_its_record(
        aws: Provisioned, target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, event = _batch(aws, target, 1)
    monkeypatch.setattr(container().sqs_messages, "hold_many", lambda holds: list(range(len(holds))))

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert target.calls("/held/0") == []  # held before the call: nothing ran unheld
    assert row(aws, ids[0])["status"] == {"S": "processing"}  # claimed; the claim goes stale and is taken over
    assert receive(aws, aws.env[NORMAL]) == []  # still invisible: it comes back after the claim margin
