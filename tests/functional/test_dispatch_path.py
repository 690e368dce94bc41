"""The dispatch path's AWS calls (issue 17), counted on moto through botocore: from the create call
to the target's call, a task due now costs the calls docs/dispatch.md lists, and the table's stream
is not among them.

- create (API): the key's GetItem, the lane message's SendMessage, the row's PutItem;
- the lane (Lambda's poller on AWS, infra/runner.py here) receives the message;
- executor: one ChangeMessageVisibilityBatch for the batch (hold_until_claimed), the claim's
  UpdateItem (from the row the message carries: no GetItem), then the call. The run's own hold
  goes out only if the call outlasts RUN_HOLD_WINDOW; after the call, the ending's UpdateItem (and
  Lambda's DeleteMessageBatch).
The team's plan (a GetItem of the Teams table) is read at most twice a second per process, here once
before the counted calls."""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest

import app as lambdas
from functions import executor as executor_entry
from taskhook.adapters.sqs import CARRIED_ROW_LIMIT, TaskMessage
from taskhook.container import container
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import LANES, api_key, context, create_task, receive, row, sqs_event

NORMAL = "QUEUE_NORMAL_URL"


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every AWS call made in this process from now on, as (service, operation)."""
    calls: list[tuple[str, str]] = []
    real = botocore.client.BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: Any) -> Any:
        calls.append((self.meta.service_model.service_name, operation))
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    return calls


def test_a_task_due_now_reaches_its_target_in_the_documented_calls(
        aws: Provisioned, target: TargetServer, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The team's plan is read at most every PLAN_CACHE_SECONDS per process: warm for this test. A
    # run's own hold goes out only if it outlasts RUN_HOLD_WINDOW: far longer than this run, however
    # loaded the machine (test_batched_holds.py counts the holds of runs that outlast it).
    monkeypatch.setattr(container().plan_book, "_ttl", 3600.0)
    monkeypatch.setattr(executor_entry, "RUN_HOLD_WINDOW", 30.0)
    key = api_key()
    create_task(key, targetUrl=target.url("/warm", [200]))  # the caches a running API has warm
    receive(aws, aws.env[NORMAL])
    calls: list[tuple[str, str]] = request.getfixturevalue("aws_calls")

    task = create_task(key, targetUrl=target.url("/path", [200]))
    assert calls == [("dynamodb", "GetItem"), ("sqs", "SendMessage"), ("dynamodb", "PutItem")]

    messages = receive(aws, aws.env[NORMAL])
    assert [json.loads(m["Body"])["taskId"] for m in messages] == [task["id"]]
    event = sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages)
    calls.clear()
    answer = lambdas.execute_normal(event, context("execute_normal", 330))
    made = list(calls)

    assert answer == {"batchItemFailures": []}
    assert len(target.calls("/path")) == 1
    assert row(aws, task["id"])["status"] == {"S": "completed"}
    # the batch's visibility, the claim, (the call), the ending; no hold for a run this quick, and no
    # read: the message carries the row
    assert made == [("sqs", "ChangeMessageVisibilityBatch"), ("dynamodb", "UpdateItem"), ("dynamodb", "UpdateItem")]


def test_the_row_a_create_s_message_carries_is_the_row_it_wrote(aws: Provisioned, target: TargetServer) -> None:
    key = api_key()
    for lane, fields in (("normal", {}),
                         ("high", {"headers": {"X-Trace": "1"}, "maxRetries": 5, "priority": 9, "timeout": 12}),
                         ("normal", {"body": json.dumps({"text": "é" * 1000})})):
        task = create_task(key, targetUrl=target.url("/carried", [200]), **fields)
        [message] = receive(aws, aws.env[LANES[lane]])
        carried = TaskMessage.parse(message["Body"]).carried()
        assert carried is not None and carried == container().task_repository.get(task["id"])
        assert carried.sentAtCreate is True


def test_a_row_too_long_to_carry_is_read(aws: Provisioned, target: TargetServer) -> None:
    task = create_task(api_key(), targetUrl=target.url("/long", [200]), body="x" * (CARRIED_ROW_LIMIT + 1))
    [message] = receive(aws, aws.env[NORMAL])
    assert json.loads(message["Body"]) == {"taskId": task["id"]}
    assert TaskMessage.parse(message["Body"]).carried() is None


def test_a_second_delivery_reads_the_row(aws: Provisioned, target: TargetServer,
                                         request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message delivered again comes after a run that did not end (a crash, a lost hold): the row
    has moved on from what the message carries, so it is read, not guessed."""
    monkeypatch.setattr(executor_entry, "RUN_HOLD_WINDOW", 30.0)
    task = create_task(api_key(), targetUrl=target.url("/again", [200]))
    receive(aws, aws.env[NORMAL], visibility=0)  # a delivery whose run never came
    messages = receive(aws, aws.env[NORMAL])
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in messages] == ["2"]
    calls: list[tuple[str, str]] = request.getfixturevalue("aws_calls")
    answer = lambdas.execute_normal(sqs_event(aws, "sqs_lane_batch.json", aws.env[NORMAL], messages),
                                    context("execute_normal", 330))
    assert answer == {"batchItemFailures": []} and row(aws, task["id"])["status"] == {"S": "completed"}
    assert ("dynamodb", "GetItem") in calls and len(target.calls("/again")) == 1
