"""infra/emulator.py: moto with the embedded stack's speed-ups behaves as moto does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Message, SQSBackend, sqs_backends

from infra import emulator


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for owner, name in [(Message, "visible"), (Message, "delayed"),
                        (SQSBackend, "is_message_valid_based_on_retention_period"),
                        (DomainDispatcherApplication, "get_backend_for_host")]:
        monkeypatch.setattr(owner, name, owner.__dict__[name])  # put back after the test
    emulator.apply()
    with mock_aws():
        yield


def _queue(sqs: Any, name: str, **attributes: str) -> tuple[str, Any]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs_backends["123456789012"]["us-east-1"].get_queue(name)


def test_delays_and_visibility_work_as_in_moto(patched: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, _ = _queue(sqs, "lane", VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["now"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    time.sleep(1.1)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in again) == ["later", "now"]  # delay over, and "now" visible again
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "2"
    assert counts["ApproximateNumberOfMessages"] == "0"


def test_messages_past_retention_are_not_returned_and_the_check_reads_no_queue_attributes(
        patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, queue = _queue(sqs, "short", MessageRetentionPeriod="60")
    for body in ("fresh", "old"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    old = next(m for m in queue._messages if m.body == "old")
    old.sent_timestamp -= 61_000  # sent 61 s ago: past the queue's 60 s retention
    reads: list[Any] = []
    original = SQSBackend.get_queue_attributes
    monkeypatch.setattr(SQSBackend, "get_queue_attributes",
                        lambda self, *a, **k: reads.append(a) or original(self, *a, **k))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["fresh"]
    assert reads == []


def test_the_backend_for_a_host_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    monkeypatch.setattr(emulator, "_lookup", lambda self, host: calls.append(host) or f"backend-of-{host}")
    app = DomainDispatcherApplication(create_app=lambda backend: None)  # type: ignore[arg-type,return-value]
    for _ in range(3):
        assert emulator._remembered_backend_for_host(app, "sqs.us-east-1.amazonaws.com") == \
            "backend-of-sqs.us-east-1.amazonaws.com"
    assert emulator._remembered_backend_for_host(app, None) is None
    assert calls == ["sqs.us-east-1.amazonaws.com"]
