"""The lane executor's visibility changes go out grouped, on moto: a batch's claimed tasks are held
for their runs with one ChangeMessageVisibilityBatch per ten records (functions/executor.py
HoldSender), not one ChangeMessageVisibility each (issue 15: that was one SQS request per task,
$0.40 per million tasks). The hold goes out while the call starts, never before it (issue 17: the
window cost every task 50 ms of latency), and a run over before its group goes needs none: its
message is deleted. A hold that is not made leaves the run going; its message comes back when its
current visibility ends and finds the claim held."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import app as lambdas
from functions import executor as executor_entry
from taskhook.container import container
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import api_key, context, create_task, dispatched_at_create, row, sqs_event

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


def _batch(aws: Provisioned, target: TargetServer, size: int, script: list[Any]) -> tuple[list[str], dict[str, Any]]:
    key = api_key()
    ids, messages = [], []
    for i in range(size):
        ids.append(create_task(key, targetUrl=target.url(f"/held/{i}", script), priority=5)["id"])
        messages += dispatched_at_create(aws, ids[-1], "normal")
    return ids, sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages)


def test_a_batch_of_ten_slow_runs_is_held_with_two_batch_calls_and_no_single_ones(
        aws: Provisioned, target: TargetServer, sqs_calls: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # A window wide enough for this machine's slowest claim, so that the count is exact; on AWS
    # claims take milliseconds and the default window (50 ms) groups them (`make bench` counts them).
    monkeypatch.setattr(executor_entry, "RUN_HOLD_WINDOW", 1.5)
    ids, event = _batch(aws, target, 10, [{"sleep": 2.5}])

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert all(row(aws, task_id)["status"] == {"S": "completed"} for task_id in ids)
    assert sqs_calls["change_message_visibility"] == 0
    # one before any read (hold_until_claimed), one for the ten claimed runs' holds
    assert sqs_calls["change_message_visibility_batch"] == 2
    assert sqs_calls["entries"] == 20


def test_the_call_starts_before_the_hold_goes_and_a_quick_run_needs_none(
        aws: Provisioned, target: TargetServer, sqs_calls: Counter[str]) -> None:
    # The default window: half of the unclaimed hold that hold_until_claimed set (15.75 s here).
    assert executor_entry.run_hold_window() == container().executor.unclaimed_hold / 2 == 15.75
    ids, event = _batch(aws, target, 3, [200])

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert all(row(aws, task_id)["status"] == {"S": "completed"} for task_id in ids)
    assert all(len(target.calls(f"/held/{i}")) == 1 for i in range(3))
    # only hold_until_claimed's call: the runs' holds were taken back when the runs ended
    assert (sqs_calls["change_message_visibility_batch"], sqs_calls["entries"]) == (1, 3)


def test_a_hold_that_is_not_made_leaves_the_run_going(
        aws: Provisioned, target: TargetServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_entry, "RUN_HOLD_WINDOW", 0.05)
    ids, event = _batch(aws, target, 1, [{"sleep": 1}])
    monkeypatch.setattr(container().sqs_messages, "hold_many", lambda holds: list(range(len(holds))))

    answer = lambdas.execute_normal(event, context("execute_normal", 330))

    assert answer == {"batchItemFailures": []}
    assert len(target.calls("/held/0")) == 1
    assert row(aws, ids[0])["status"] == {"S": "completed"}
