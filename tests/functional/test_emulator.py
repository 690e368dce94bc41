"""infra/emulator.py: moto with the embedded stack's speed-ups behaves as moto does; and what it
keeps across restarts (infra/snapshot.py)."""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import responses as moto_responses
from moto.core.responses import ActionResult
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing import validators
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Message, Queue, SQSBackend, sqs_backends

from infra import emulator, snapshot
from infra.provision import Provisioner


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for owner, name in [(Message, "visible"), (Message, "delayed"),
                        (SQSBackend, "is_message_valid_based_on_retention_period"), (Queue, "add_message"),
                        (DomainDispatcherApplication, "get_backend_for_host"), (ActionResult, "execute_result"),
                        (UpdateExpressionParser, "make"), (validators, "deepcopy"), (Queue, "wait_for_messages"),
                        (Queue, "pending_message_groups"), (Queue, "delete_message"), (SQSBackend, "receive_message"),
                        (SQSBackend, "change_message_visibility"), (moto_responses, "method_names_from_class"),
                        (DepthFirstTraverser, "nodes_to_be_processed"), (Table, "all_items"),
                        (DepthFirstTraverser, "traverse_node_recursively"), (validators.Validator, "__init__"),
                        (validators.Validator, "validate"), (ConditionExpressionParser, "parse"),
                        (LimitedSizeDict, "__setitem__"), (Item, "__init__"), (UpdateExpressionExecutor, "execute"),
                        (Queue, "attributes")]:
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


def test_a_long_poll_wakes_when_a_delay_or_a_visibility_timeout_ends(patched: None) -> None:
    # moto sees such a message only at its next check (a second later); the runner's idle lanes
    # long-poll, so a delayed task or a retry would start up to a second late.
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, queue = _queue(sqs, "waits", VisibilityTimeout="30")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    started = time.monotonic()
    queue.wait_for_messages(20)
    assert [m.body for m in queue.messages] == ["delayed"]
    assert time.monotonic() - started < 10  # woken when the delay ended, not at the wait's end

    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    assert queue.messages == []
    waiter = threading.Thread(target=queue.wait_for_messages, args=(20,))
    waiter.start()
    time.sleep(0.2)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=1)  # was 30 s
    waiter.join(timeout=10)
    assert not waiter.is_alive()  # the change woke it, and the new end of the visibility timeout
    assert [m.body for m in queue.messages] == ["delayed"]


def test_a_fifo_deduplication_id_holds_for_five_minutes_after_its_message_is_deleted(
        patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto forgets an id once its message is deleted; SQS does not. A stream batch retried after its
    # notifications were delivered queued them again and the customer got a second 'completed' call.
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, _ = _queue(sqs, "notes.fifo", FifoQueue="true")

    def send(dedup: str) -> None:
        sqs.send_message(QueueUrl=url, MessageBody=dedup, MessageGroupId="task", MessageDeduplicationId=dedup)

    def drain() -> list[str]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [m["Body"] for m in got]

    send("ntf_1_cb")
    assert drain() == ["ntf_1_cb"]
    send("ntf_1_cb")  # accepted, as SQS does, but not delivered again
    send("ntf_2_cb")
    assert drain() == ["ntf_2_cb"]
    later = emulator._now_ms() + 301_000
    monkeypatch.setattr(emulator, "_now_ms", lambda: later)
    send("ntf_1_cb")  # the interval is over: a new message
    assert drain() == ["ntf_1_cb"]


def test_a_long_poll_gives_no_message_of_a_fifo_group_another_receiver_holds(patched: None) -> None:
    # moto takes the in-flight groups once, when a receive starts: a long poll that began before
    # another receiver took a group's first message then handed out its second one at once, and a
    # task's 'processing' callback overtook its 'pending' one (make test, after the direct dispatch
    # put the two notifications milliseconds apart). SQS holds the group until the first is deleted.
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, queue = _queue(sqs, "order.fifo", FifoQueue="true", ContentBasedDeduplication="true",
                        VisibilityTimeout="30")
    got: list[list[str]] = []

    def long_poll() -> None:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=2)
        got.append([m["Body"] for m in answer.get("Messages", [])])

    pollers = [threading.Thread(target=long_poll) for _ in range(2)]
    for poller in pollers:
        poller.start()
    time.sleep(0.3)  # both are waiting
    sqs.send_message(QueueUrl=url, MessageBody="pending", MessageGroupId="task")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [["pending"]]  # one poller has it; the other waits on
    sqs.send_message(QueueUrl=url, MessageBody="processing", MessageGroupId="task")
    for poller in pollers:
        poller.join(timeout=10)
    assert got == [["pending"], []]  # 'processing' waits while 'pending' is in flight
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == []
    assert [m.body for m in queue.messages] == ["processing"] and len(queue.pending_messages) == 1


def test_a_long_poll_waits_while_a_fifo_group_is_held_and_wakes_when_its_message_is_deleted(
        patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's long poll woke at once while the only visible message's group was held, and scanned
    # again: a busy loop for the whole wait on the notifications queue.
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, queue = _queue(sqs, "held.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="30")
    waits: list[float] = []
    waited = Queue.wait_for_messages

    def counted(self: Queue, timeout: float) -> None:
        waits.append(timeout)
        waited(self, timeout)

    monkeypatch.setattr(Queue, "wait_for_messages", counted)
    sqs.send_message(QueueUrl=url, MessageBody="pending", MessageGroupId="task")
    sqs.send_message(QueueUrl=url, MessageBody="processing", MessageGroupId="task")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]

    sleeps: list[float | None] = []

    class CountedCondition(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            sleeps.append(timeout)
            return super().wait(timeout)

    queue._messages_lock = CountedCondition()
    started = time.monotonic()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    assert time.monotonic() - started >= 0.9
    assert len(waits) <= 3  # it waited, it did not scan again and again
    assert len(sleeps) <= 3, sleeps[:5]  # nor woke every millisecond for the held message's past end

    got: list[list[str]] = []
    poller = threading.Thread(target=lambda: got.append(
        [m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])]))
    poller.start()
    time.sleep(0.3)
    started = time.monotonic()
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    poller.join(timeout=15)
    assert got == [["processing"]]
    assert time.monotonic() - started < 5  # woken by the delete, not at the wait's end


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


def test_a_send_counts_no_messages_and_queue_attributes_answer_as_in_moto(
        patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's send read `queue.attributes` for one of them (ContentBasedDeduplication), which counted
    every message of the queue three times over: a send cost grew with the backlog (53 % of the
    emulator's CPU for a send to a queue of 2,000 messages). Each attribute is now worked out when
    it is read; what GetQueueAttributes answers is unchanged."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url, queue = _queue(sqs, "counted", VisibilityTimeout="30")
    fifo_url, fifo = _queue(sqs, "counted.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    counts: list[str] = []
    for name in ("approximate_number_of_messages", "approximate_number_of_messages_not_visible",
                 "approximate_number_of_messages_delayed"):
        counted = getattr(Queue, name)
        monkeypatch.setattr(Queue, name, property(lambda self, _n=name, _c=counted: counts.append(_n) or _c.fget(self)))
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", DelaySeconds=60 if i == 2 else 0)
        sqs.send_message(QueueUrl=fifo_url, MessageBody="same", MessageGroupId="g")  # deduplicated by content
    assert counts == []
    assert len(fifo._messages) == 1
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)

    for q, q_url in ((queue, url), (fifo, fifo_url)):
        expected = {k: str(v) for k, v in emulator._moto_queue_attributes(q).items() if v is not None}
        got = sqs.get_queue_attributes(QueueUrl=q_url, AttributeNames=["All"])["Attributes"]
        assert got == expected
    assert {k: v for k, v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"].items()
            if k.startswith("Approximate")} == {"ApproximateNumberOfMessages": "1",
                                                 "ApproximateNumberOfMessagesNotVisible": "1",
                                                 "ApproximateNumberOfMessagesDelayed": "1"}
    one = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "VisibilityTimeout"])
    assert one["Attributes"] == {"ApproximateNumberOfMessages": "1", "VisibilityTimeout": "30"}
    assert dict(queue.attributes) == emulator._moto_queue_attributes(queue)
    assert "FifoQueue" not in queue.attributes and queue.attributes.get("FifoQueue") is None
    assert fifo.attributes["ContentBasedDeduplication"] == "true"
    with pytest.raises(KeyError):
        queue.attributes["ContentBasedDeduplication"]


def _at_once(*work: Callable[[], None]) -> None:
    """Run each callable on its own thread, threads switching every microsecond (races made likely)."""
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=job) for job in work]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(switching)
    assert not any(thread.is_alive() for thread in threads)


def test_a_message_sent_while_others_are_deleted_is_not_lost(patched: None) -> None:
    """moto's delete builds the queue's list anew from a pass over the old one. With two deletes at
    once, the later assignment was built from the list the earlier one replaced: a message sent
    in between was lost (the 10,000-task soak stranded a task so, one in 10,000), and the earlier
    delete's message came back."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    _queue(sqs, "busy")
    backend = sqs_backends["123456789012"]["us-east-1"]
    for i in range(1500):
        backend.send_message("busy", f"old{i}")
    in_flight = backend.receive_message("busy", 1500, 0, 300)
    assert len(in_flight) == 1500
    new = [f"new{i}" for i in range(1500)]

    def delete(half: int) -> None:
        for message in in_flight[half::2]:
            backend.delete_message("busy", message.receipt_handle)

    def send() -> None:
        for body in new:
            backend.send_message("busy", body)

    _at_once(lambda: delete(0), lambda: delete(1), send)
    assert sorted(m.body for m in backend.get_queue("busy")._messages) == sorted(new)


def test_two_receives_at_once_never_hand_out_one_message_twice(patched: None) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    _queue(sqs, "busy")
    backend = sqs_backends["123456789012"]["us-east-1"]
    sent = [f"m{i}" for i in range(1500)]
    for body in sent:
        backend.send_message("busy", body)
    received: list[str] = []

    def receive() -> None:
        while messages := backend.receive_message("busy", 10, 0, 300):
            received.extend(m.body for m in messages)

    _at_once(receive, receive)
    assert sorted(received) == sorted(sent)


def test_the_backend_for_a_host_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    monkeypatch.setattr(emulator, "_lookup", lambda self, host: calls.append(host) or f"backend-of-{host}")
    app = DomainDispatcherApplication(create_app=lambda backend: None)  # type: ignore[arg-type,return-value]
    for _ in range(3):
        assert emulator._remembered_backend_for_host(app, "sqs.us-east-1.amazonaws.com") == \
            "backend-of-sqs.us-east-1.amazonaws.com"
    assert emulator._remembered_backend_for_host(app, None) is None
    assert calls == ["sqs.us-east-1.amazonaws.com"]


def _item_operations(ddb: Any, table: str, client: Callable[..., Any] | None = None) -> list[Any]:
    """Every item operation the stack makes, with every kind of attribute value, and their answers
    (without the request id). `client(service)`: the other services' clients (mock_aws's if None)."""
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(TableName=table, StreamSpecification=stream,
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                                {"AttributeName": "at", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                           {"AttributeName": "at", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    item = {"id": {"S": "a"}, "at": {"N": "1"}, "blob": {"B": b"\x00\xffraw"}, "ok": {"BOOL": True},
            "nothing": {"NULL": True}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x01"]},
            "m": {"M": {"l": {"L": [{"S": "s"}, {"N": "3"}, {"B": b"\x02"}]}}}}
    key = {"id": {"S": "a"}, "at": {"N": "1"}}
    answers = [
        ddb.put_item(TableName=table, Item=item, ReturnConsumedCapacity="TOTAL"),
        ddb.put_item(TableName=table, Item={**item, "at": {"N": "2"}}, ReturnValues="ALL_OLD"),
        ddb.get_item(TableName=table, Key=key),
        ddb.get_item(TableName=table, Key={"id": {"S": "none"}, "at": {"N": "0"}}),
        ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v ADD n :one",
                        ExpressionAttributeValues={":v": {"B": b"\x03"}, ":one": {"N": "1"}}, ReturnValues="ALL_NEW"),
        ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"S": "w"}}, ReturnValues="UPDATED_OLD"),
        ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE nothing"),
        ddb.query(TableName=table, KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"S": "a"}},
                  Limit=1, ReturnConsumedCapacity="TOTAL"),
        ddb.query(TableName=table, KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"S": "a"}},
                  Select="COUNT"),
        ddb.scan(TableName=table, ProjectionExpression="id, #b", ExpressionAttributeNames={"#b": "blob"}),
        ddb.batch_get_item(RequestItems={table: {"Keys": [key, {"id": {"S": "a"}, "at": {"N": "9"}}]}}),
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {**item, "at": {"N": "3"}}}}]}),
        ddb.transact_write_items(TransactItems=[{"Update": {
            "TableName": table, "Key": key, "UpdateExpression": "SET w = :w",
            "ExpressionAttributeValues": {":w": {"N": "5"}}}}]),
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]),
        ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD"),
        ddb.describe_table(TableName=table)["Table"]["KeySchema"],  # not an item operation: moto's serializer
    ]
    streams = client("dynamodbstreams") if client else boto3.client(
        "dynamodbstreams", region_name="us-east-1", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=100)
    for record in records["Records"]:
        created = record["dynamodb"].pop("ApproximateCreationDateTime")
        assert abs(created.timestamp() - time.time()) < 60
        for name in ("SequenceNumber", "SizeBytes"):  # differ between the runs
            del record["dynamodb"][name]
        del record["eventID"]
    answers.append(records["Records"])
    sqs = client("sqs") if client else boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=table)["QueueUrl"]
    answers += [
        {k: v for k, v in sqs.send_message(QueueUrl=url, MessageBody="one", DelaySeconds=0, MessageAttributes={
            "s": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            "n": {"DataType": "Number", "StringValue": "1"}}).items() if k not in ("MessageId", "ResponseMetadata")},
        [{k: v for k, v in e.items() if k != "MessageId"} for e in sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three", "DelaySeconds": 1}])["Successful"]],
    ]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                   AttributeNames=["ApproximateReceiveCount", "MessageGroupId"])["Messages"]
    answers.append(sorted(({k: v for k, v in m.items() if k not in ("MessageId", "ReceiptHandle")}
                           for m in received), key=lambda m: m["Body"]))
    handles = [m["ReceiptHandle"] for m in received]
    answers += [
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": handles[0],
                                                                     "VisibilityTimeout": 5}]),
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h}
                                                        for i, h in enumerate(handles)]),
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "VisibilityTimeout"]),
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10),
    ]
    for answer in answers:
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
    return json.loads(json.dumps(answers, default=repr).replace(f'"{table}"', '"<table>"'))  # type: ignore[no-any-return]


def test_item_operations_answer_as_moto_does_without_its_generic_serializer(
        patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    generic: list[str] = []

    def counted(self: Any, context: Any, original: Any = emulator._serialize_generic) -> Any:
        generic.append(context.operation_model.name)
        return original(self, context)

    monkeypatch.setattr(emulator, "_serialize_generic", counted)
    fast = _item_operations(boto3.client("dynamodb", region_name="us-east-1"), "fast")
    assert not set(generic) & {name for _, name in emulator.FAST_OPERATIONS}
    assert {"CreateTable", "DescribeTable", "CreateQueue", "GetShardIterator"} <= set(generic)

    monkeypatch.setattr(ActionResult, "execute_result", emulator._serialize_generic)  # moto's own
    assert _item_operations(boto3.client("dynamodb", region_name="us-east-1"), "generic") == fast


def test_json_calls_skip_flask_and_answer_as_through_moto_s_app(patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's HTTP server as `main` builds it (DirectCalls in front of moto's app): every
    item, stream and queue operation answers the same, status, headers and body, whether it goes
    straight to moto's handler or through moto's Flask app."""
    import flask
    from botocore.config import Config

    through_flask: list[str] = []
    flask_app = flask.Flask.wsgi_app

    def counted(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        through_flask.append(environ.get("HTTP_X_AMZ_TARGET", environ.get("PATH_INFO", "")))
        return flask_app(self, environ, start_response)

    monkeypatch.setattr(flask.Flask, "wsgi_app", counted)
    answers: list[tuple[int, list[tuple[str, str]], bytes]] = []
    server = emulator.make_server(emulator.DirectCalls(DomainDispatcherApplication(create_backend_app)),
                                  "127.0.0.1", 0)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}"

    def client(service: str) -> Any:
        made = boto3.client(service, region_name="us-east-1", endpoint_url=url,
                            config=Config(retries={"max_attempts": 0}))
        made.meta.events.register("after-call", lambda http_response, **_: answers.append((
            http_response.status_code, sorted((k.lower(), v) for k, v in http_response.headers.items()
                                             if k.lower() not in ("date", "x-amzn-requestid", "content-length",
                                                                  "x-amz-crc32")),
            http_response.content)))
        return made

    try:
        direct = _item_operations(client("dynamodb"), "direct", client)
        direct_answers, answers[:] = list(answers), []
        assert through_flask == []  # every call of them went straight to moto's handler
        monkeypatch.setattr(emulator, "DIRECT_SERVICES", frozenset())  # all through moto's app
        assert _item_operations(client("dynamodb"), "flask", client) == direct
        assert len(through_flask) == len(answers) == len(direct_answers) > 20
        for (status, headers, body), (status2, headers2, body2) in zip(direct_answers, answers, strict=True):
            assert (status, headers) == (status2, headers2)
            if not any(volatile in body for volatile in (b"Records", b"MessageId", b"StreamArn", b"ShardIterator")):
                assert body.replace(b"direct", b"flask") == body2  # (those differ between any two runs)
    finally:
        urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=10).close()
        server.close()


def test_a_handler_class_methods_are_listed_once(patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[type] = []
    monkeypatch.setattr(emulator, "_list_methods", lambda cls: listed.append(cls) or ["list_tables", "list_queues"])
    emulator._method_names.cache_clear()
    ddb, sqs = boto3.client("dynamodb", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    for _ in range(3):
        assert ddb.list_tables()["TableNames"] == []
        assert "QueueUrls" not in sqs.list_queues()
    assert sorted(cls.__name__ for cls in listed) == ["DynamoHandler", "SQSResponse"]
    emulator._method_names.cache_clear()


def _updates(ddb: Any, table: str) -> list[Any]:
    """Update expressions of every kind, twice each (the second parse is the kept one), valid or
    not; what each answered or raised, and the items they left."""
    from botocore.exceptions import ClientError

    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    updates: list[dict[str, Any]] = [
        {"UpdateExpression": "SET #s = :s, version = if_not_exists(version, :zero) + :one",
         "ExpressionAttributeNames": {"#s": "status"},
         "ExpressionAttributeValues": {":s": {"S": "queued"}, ":zero": {"N": "0"}, ":one": {"N": "1"}}},
        {"UpdateExpression": "SET log = list_append(if_not_exists(log, :empty), :entry), m = :m",
         "ExpressionAttributeValues": {":empty": {"L": []}, ":entry": {"L": [{"S": "x"}]},
                                       ":m": {"M": {"a": {"N": "1"}}}}},
        {"UpdateExpression": "SET m.a = m.a - :one, m.b = :b, log[0] = :s REMOVE gone ADD tags :t, n :one",
         "ExpressionAttributeValues": {":one": {"N": "1"}, ":b": {"B": b"\x00"}, ":s": {"S": "y"},
                                       ":t": {"SS": ["a", "b"]}},
         "ConditionExpression": "attribute_exists(version) AND #s = :s2",
         "ExpressionAttributeNames": {"#s": "status"}},
        {"UpdateExpression": "DELETE tags :t", "ExpressionAttributeValues": {":t": {"SS": ["a"]}}},
        {"UpdateExpression": "SET version = version + :one", "ConditionExpression": "version = :old",
         "ExpressionAttributeValues": {":one": {"N": "1"}, ":old": {"N": "99"}}},  # the condition fails
        {"UpdateExpression": "SET a = :undefined"},  # invalid: a value not given
        {"UpdateExpression": "SET SET = :x", "ExpressionAttributeValues": {":x": {"S": "x"}}},  # reserved word
        {"UpdateExpression": "SET a = = :x", "ExpressionAttributeValues": {":x": {"S": "x"}}},  # not parsed
        # the shape checks: one expression, names that pass and names that do not (the key; a path twice)
        {"UpdateExpression": "SET #k = :x, #j = :x", "ExpressionAttributeNames": {"#k": "other", "#j": "more"},
         "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"UpdateExpression": "SET #k = :x, #j = :x", "ExpressionAttributeNames": {"#k": "id", "#j": "more"},
         "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"UpdateExpression": "SET #k = :x, #j = :x", "ExpressionAttributeNames": {"#k": "more", "#j": "more"},
         "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"UpdateExpression": "SET a = :x REMOVE a", "ExpressionAttributeValues": {":x": {"S": "x"}}},
        {"UpdateExpression": "SET m.a = :x, m = :y", "ExpressionAttributeValues": {":x": {"S": "x"}, ":y": {"M": {}}}},
        {"UpdateExpression": "REMOVE a REMOVE b"},
    ]
    updates[2]["ExpressionAttributeValues"][":s2"] = {"S": "queued"}
    answers: list[Any] = []
    for key in ("a", "b"):
        for update in updates:
            try:
                answer = ddb.update_item(TableName=table, Key={"id": {"S": key}}, ReturnValues="ALL_NEW", **update)
                answer.pop("ResponseMetadata")
                answers.append(answer)
            except ClientError as exc:
                answers.append(exc.response["Error"])
        answers.append(ddb.get_item(TableName=table, Key={"id": {"S": key}})["Item"])
    return json.loads(json.dumps(answers, default=repr).replace(f'"{table}"', '"<table>"'))  # type: ignore[no-any-return]


def test_update_expressions_work_as_in_moto_with_the_kept_parse(patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []

    def counted(cls: Any, expression: str, original: Any = emulator._parse_update) -> Any:
        parses.append(expression)
        return original(cls, expression)

    monkeypatch.setattr(emulator, "_parse_update", counted)
    monkeypatch.setattr(emulator, "_trees", {})
    monkeypatch.setattr(emulator, "_pickled", {})
    monkeypatch.setattr(emulator, "_shape_checked", {})
    kept = _updates(boto3.client("dynamodb", region_name="us-east-1"), "kept")
    # each expression parsed once, but one that does not parse: every time (moto's error each time)
    assert sorted(Counter(parses).values()) == [1] * 11 + [2]
    # the shape checks still refuse, for the second item too (their pass is kept per tree and names)
    messages = [answer.get("Message", "") for answer in kept]
    assert sum("part of the key" in m for m in messages) == 2
    assert sum("paths overlap" in m for m in messages) == 6
    assert sum("can only be used once" in m for m in messages) == 2

    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(emulator._parse_update))  # moto's own
    monkeypatch.setattr(validators, "deepcopy", copy.deepcopy)
    monkeypatch.setattr(DepthFirstTraverser, "nodes_to_be_processed", emulator._kinds_of)
    monkeypatch.setattr(DepthFirstTraverser, "traverse_node_recursively", emulator._moto_traverse)
    monkeypatch.setattr(validators.Validator, "__init__", emulator._validator_init)
    monkeypatch.setattr(validators.Validator, "validate", emulator._moto_validate)
    assert _updates(boto3.client("dynamodb", region_name="us-east-1"), "moto") == kept


def _sized_writes(ddb: Any, table: str) -> list[Any]:
    """Puts and updates around moto's item size limit (405,000 bytes of names and values): what
    each answered, and the item after it."""
    from botocore.exceptions import ClientError

    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    key = {"id": {"S": "a"}}
    many = {f"a{n}": {"M": {"s": {"S": "x" * 100}, "l": {"L": [{"N": str(n)}, {"SS": ["p", "q"]}]}}} for n in range(40)}
    writes: list[tuple[str, dict[str, Any]]] = [
        ("put", {"Item": {**key, **many}}),
        ("put", {"Item": {**key, "big": {"S": "x" * 404_000}, **many}}),  # over by the small ones
        ("put", {"Item": {**key, "big": {"S": "x" * 200_000}, "more": {"B": b"y" * 204_900}}}),  # just under
        ("put", {"Item": {**key, "big": {"S": "x" * 200_000}, "more": {"B": b"y" * 205_000}}}),  # just over
        ("put", {"Item": {**key, **many}}),
        ("update", {"UpdateExpression": "SET big = :v", "ExpressionAttributeValues": {":v": {"S": "x" * 300_000}}}),
        ("update", {"UpdateExpression": "SET more = :v", "ExpressionAttributeValues": {":v": {"S": "x" * 200_000}}}),
    ]
    answers: list[Any] = []
    for kind, write in writes:
        try:
            if kind == "put":
                ddb.put_item(TableName=table, **write)
            else:
                ddb.update_item(TableName=table, Key=key, **write)
            answers.append("ok")
        except ClientError as exc:
            answers.append(exc.response["Error"])
        answers.append(ddb.get_item(TableName=table, Key=key).get("Item"))
    return json.loads(json.dumps(answers, default=repr))  # type: ignore[no-any-return]


def test_item_sizes_are_checked_once_as_moto_checks_them(patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    sizings = Counter[str]()
    run = "ours"

    def counted(self: DynamoType, size: Callable[[DynamoType], int] = DynamoType.size) -> int:
        sizings[run] += 1
        return size(self)

    monkeypatch.setattr(DynamoType, "size", counted)
    ours = _sized_writes(boto3.client("dynamodb", region_name="us-east-1"), "ours")
    assert [a for a in ours[::2] if a != "ok"] == [
        {"Message": "Item size has exceeded the maximum allowed size", "Code": "ValidationException"}] * 2 + [
        {"Message": "Item size to update has exceeded the maximum allowed size", "Code": "ValidationException"}]

    run = "moto"
    monkeypatch.setattr(LimitedSizeDict, "__setitem__", emulator._moto_set_attribute)
    monkeypatch.setattr(Item, "__init__", emulator._moto_item_init)
    monkeypatch.setattr(UpdateExpressionExecutor, "execute", emulator._moto_execute)
    assert _sized_writes(boto3.client("dynamodb", region_name="us-east-1"), "moto") == ours
    assert sizings["ours"] * 5 < sizings["moto"], sizings  # each value sized once a write, not once an attribute


def test_an_update_is_sized_by_the_item_it_leaves_and_one_too_large_leaves_the_item_as_it_was(
        patched: None) -> None:
    """DynamoDB judges the item an update leaves; moto sized each SET with the value it replaced
    still counted, and left the SETs before a refused one done."""
    from botocore.exceptions import ClientError

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    key = {"id": {"S": "a"}}
    ddb.put_item(TableName="t", Item={**key, "big": {"S": "x" * 250_000}, "n": {"N": "1"}})

    ddb.update_item(TableName="t", Key=key, UpdateExpression="SET big = :v",
                    ExpressionAttributeValues={":v": {"S": "y" * 250_000}})  # 250 KB for 250 KB
    assert ddb.get_item(TableName="t", Key=key)["Item"]["big"]["S"] == "y" * 250_000

    with pytest.raises(ClientError, match="Item size to update has exceeded"):
        ddb.update_item(TableName="t", Key=key, UpdateExpression="SET n = :n, more = :v REMOVE gone",
                        ExpressionAttributeValues={":n": {"N": "2"}, ":v": {"S": "z" * 160_000}})
    assert ddb.get_item(TableName="t", Key=key)["Item"] == {**key, "big": {"S": "y" * 250_000}, "n": {"N": "1"}}

    # Changes made inside a value: a nested SET, an ADD to a set (moto sized neither).
    ddb.update_item(TableName="t", Key=key, UpdateExpression="SET m = :m, ss = :ss",
                    ExpressionAttributeValues={":m": {"M": {"a": {"S": "a"}}}, ":ss": {"SS": ["a"]}})
    kept = ddb.get_item(TableName="t", Key=key)["Item"]
    for expression, value in (("SET m.x = :v", {"S": "z" * 160_000}), ("ADD ss :v", {"SS": ["z" * 160_000]})):
        with pytest.raises(ClientError, match="Item size to update has exceeded"):
            ddb.update_item(TableName="t", Key=key, UpdateExpression=expression,
                            ExpressionAttributeValues={":v": value})
        assert ddb.get_item(TableName="t", Key=key)["Item"] == kept


def _conditions(ddb: Any, table: str) -> list[Any]:
    """Conditional puts, updates, deletes, transactions and filtered reads: one text with other
    values (the kept parse must not answer for them), an unused or undefined name or value, and a
    condition that does not parse; what each answered or raised."""
    from botocore.exceptions import ClientError

    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    names = {"#s": "status", "#t": "token"}
    calls: list[tuple[str, dict[str, Any]]] = []
    for key in ("a", "b"):
        k = {"id": {"S": key}}
        calls += [
            ("put_item", {"Item": {**k, "status": {"S": "pending"}}, "ConditionExpression": "attribute_not_exists (#i)",
                          "ExpressionAttributeNames": {"#i": "id"}}),
            ("put_item", {"Item": k, "ConditionExpression": "attribute_not_exists (#i)",
                          "ExpressionAttributeNames": {"#i": "id"}}),  # fails: it exists
            *[("update_item", {"Key": k, "UpdateExpression": "SET #t = :t, #s = :next",
                               "ConditionExpression": "#s IN (:from) AND attribute_not_exists (#t)",
                               "ExpressionAttributeNames": names,
                               "ExpressionAttributeValues": {":t": {"S": f"token-{key}-{n}"},
                                                             ":next": {"S": "processing"}, ":from": {"S": status}}})
              for n, status in enumerate(("done", "pending", "pending"))],  # fails, passes, fails (a token)
            *[("update_item", {"Key": k, "UpdateExpression": "SET #s = :next REMOVE #t",
                               "ConditionExpression": "#s IN (:from) AND #t = :t", "ExpressionAttributeNames": names,
                               "ExpressionAttributeValues": {":t": {"S": token}, ":next": {"S": "done"},
                                                             ":from": {"S": "processing"}}})
              for token in ("token-x-0", f"token-{key}-1")],  # another token fails, its own passes
            ("update_item", {"Key": k, "UpdateExpression": "SET #s = :next", "ConditionExpression": "#s = :undefined",
                             "ExpressionAttributeNames": {"#s": "status"},
                             "ExpressionAttributeValues": {":next": {"S": "x"}}}),
            ("update_item", {"Key": k, "UpdateExpression": "SET v = :next", "ConditionExpression": "v = :next",
                             "ExpressionAttributeNames": {"#unused": "status"},
                             "ExpressionAttributeValues": {":next": {"S": "x"}}}),
            ("update_item", {"Key": k, "UpdateExpression": "SET v = :next", "ConditionExpression": "v = = :next",
                             "ExpressionAttributeValues": {":next": {"S": "x"}}}),
            ("scan", {"FilterExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
                      "ExpressionAttributeValues": {":s": {"S": "done"}}}),
            ("scan", {"FilterExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
                      "ExpressionAttributeValues": {":s": {"S": "pending"}}}),
            ("delete_item", {"Key": k, "ConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
                             "ExpressionAttributeValues": {":s": {"S": "pending"}}, "ReturnValues": "ALL_OLD"}),
            ("transact_write_items", {"TransactItems": [{"ConditionCheck": {
                "TableName": table, "Key": k, "ConditionExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "done"}}}}]}),
        ]
    answers: list[Any] = []
    for operation, params in calls:
        if operation != "transact_write_items":
            params = {"TableName": table, **params}
        try:
            answer = getattr(ddb, operation)(**params)
            answer.pop("ResponseMetadata")
            answers.append(answer)
        except ClientError as exc:
            answers.append(exc.response["Error"])
        except (KeyError, ValueError) as exc:  # moto raises these (a 500 through its server)
            answers.append({"Code": type(exc).__name__, "Message": str(exc)})
    return json.loads(json.dumps(answers, default=repr).replace(f'"{table}"', '"<table>"'))  # type: ignore[no-any-return]


def test_conditions_work_as_in_moto_with_the_kept_parse(patched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []

    def counted(self: Any, original: Any = emulator._moto_parse_condition) -> Any:
        parses.append(self.condition_expression)
        return original(self)

    monkeypatch.setattr(emulator, "_moto_parse_condition", counted)
    monkeypatch.setattr(emulator, "_conditions", {})
    kept = _conditions(boto3.client("dynamodb", region_name="us-east-1"), "kept")
    assert parses.count("attribute_not_exists (#i)") == 1  # a put parses its condition twice: kept
    assert parses.count("#s IN (:from) AND attribute_not_exists (#t)") == 2  # two values of :from
    assert parses.count("#s IN (:from) AND #t = :t") == 3  # each new token; "token-x-0" twice: kept
    assert parses.count("v = = :next") == parses.count("#s = :undefined") == 2  # each raises: never kept
    codes = Counter(answer.get("Code") for answer in kept)
    assert codes["ConditionalCheckFailedException"] == 2 * 5
    assert codes["ValidationException"] == 2  # the unused name: the names the kept parse found are given back

    monkeypatch.setattr(ConditionExpressionParser, "parse", emulator._moto_parse_condition)  # moto's own
    assert _conditions(boto3.client("dynamodb", region_name="us-east-1"), "moto") == kept


def _reads(ddb: Any, prefix: str) -> list[Any]:
    """Queries and Scans (paged, on tables and an index) of tables whose key order differs as text
    and as numbers: what each page answered, in order."""
    ddb.create_table(TableName=f"{prefix}-n", KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"},
                                           {"AttributeName": "g", "AttributeType": "S"}],
                     GlobalSecondaryIndexes=[{"IndexName": "byG", "Projection": {"ProjectionType": "ALL"},
                                              "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                            {"AttributeName": "n", "KeyType": "RANGE"}]}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName=f"{prefix}-r", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName=f"{prefix}-b", KeySchema=[{"AttributeName": "s", "KeyType": "HASH"},
                                                       {"AttributeName": "b", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "s", "AttributeType": "S"},
                                           {"AttributeName": "b", "AttributeType": "B"}],
                     BillingMode="PAY_PER_REQUEST")
    for n in ("9", "10", "-2", "1.5", "100", "0"):
        ddb.put_item(TableName=f"{prefix}-n", Item={"n": {"N": n}, "g": {"S": "a" if n != "0" else "b"}})
        for pk in ("b", "a", "B"):
            ddb.put_item(TableName=f"{prefix}-r", Item={"pk": {"S": pk}, "sk": {"N": n}})
    for s, b in [("é", b"\x00"), ("Z", b"\xff"), ("a", b"\x10\x00"), ("Z", b"\x01"), ("é", b"")]:
        if b:
            ddb.put_item(TableName=f"{prefix}-b", Item={"s": {"S": s}, "b": {"B": b}})
    pages: list[Any] = []
    for request in [{"TableName": f"{prefix}-n"}, {"TableName": f"{prefix}-r"}, {"TableName": f"{prefix}-b"}]:
        start: dict[str, Any] | None = None
        while True:
            page = ddb.scan(Limit=4, **request, **({"ExclusiveStartKey": start} if start else {}))
            pages.append([page["Items"], page.get("LastEvaluatedKey")])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    pages.append(ddb.query(TableName=f"{prefix}-r", KeyConditionExpression="pk = :p AND sk > :s",
                           ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"N": "0"}})["Items"])
    pages.append(ddb.query(TableName=f"{prefix}-n", IndexName="byG", KeyConditionExpression="g = :g",
                           ExpressionAttributeValues={":g": {"S": "a"}}, ScanIndexForward=False)["Items"])
    return pages


def test_scans_and_queries_answer_as_in_moto_with_the_faster_sort(patched: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    fast = _reads(ddb, "fast")
    assert [item["n"]["N"] for item in fast[0][0]] == ["-2", "0", "1.5", "9"]  # numbers in numeric order
    monkeypatch.setattr(Table, "all_items", emulator._moto_all_items)
    assert _reads(ddb, "moto") == fast


# ---- the snapshot (infra/snapshot.py): what `make run` keeps across restarts -------------------

REGION = "us-east-1"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "TASKHOOK_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _stream_records(table: str) -> list[dict[str, Any]]:
    # botocore's own endpoint resolution for this service misses moto's in-process mock
    streams = boto3.client("dynamodbstreams", region_name=REGION,
                           endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com")
    arn = _client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


TASK_ITEM = {
    "id": {"S": "t-1"}, "teamId": {"S": "team"}, "status": {"S": "delayed"}, "version": {"N": "3"},
    "blob": {"B": b"\x00\xffraw"}, "tags": {"SS": ["a", "b"]},
    "notifications": {"M": {"n1": {"M": {"attempts": {"N": "2"}, "sealed": {"B": b"\x01\x02"},
                                          "history": {"L": [{"S": "x"}, {"N": "1.5"}, {"NULL": True}]}}}}},
}


def test_a_snapshot_brings_back_items_kms_keys_and_objects_without_stream_records(
        credentials: None, tmp_path: Path) -> None:
    with mock_aws():
        env = Provisioner(None, REGION).provision()
        ddb, kms, s3 = _client("dynamodb"), _client("kms"), _client("s3")
        ddb.put_item(TableName=env["TASKS_TABLE"], Item=TASK_ITEM)
        ddb.put_item(TableName=env["API_KEYS_TABLE"], Item={"keyHash": {"S": "h"}, "keyId": {"S": "key_1"}})
        key = kms.create_key(Description="mine")["KeyMetadata"]
        kms.create_alias(AliasName="alias/mine", TargetKeyId=key["KeyId"])
        sealed = kms.encrypt(KeyId="alias/mine", Plaintext=b"whsec_kept")["CiphertextBlob"]
        s3.put_object(Bucket=env["OUTPUTS_BUCKET"], Key="out/report.csv", Body=b"a,b\n1,2\n", ContentType="text/csv")
        sqs = _client("sqs")
        sqs.send_message(QueueUrl=env["NOTIFICATIONS_QUEUE_URL"], MessageBody="webhook", MessageGroupId="t-1",
                         MessageDeduplicationId="n-1",
                         MessageAttributes={"raw": {"DataType": "Binary", "BinaryValue": b"\x00"}})
        sqs.send_message(QueueUrl=env["DLQ_URL"], MessageBody="later", DelaySeconds=600)
        sqs.send_message(QueueUrl=env["QUEUE_HIGH_URL"], MessageBody="lane")
        snapshot.write(tmp_path, snapshot.capture())

    with mock_aws():  # a new emulator: moto starts empty
        doc = snapshot.read(tmp_path)
        assert doc is not None
        assert snapshot.restore_keys(doc) >= 1  # before provisioning, which then finds its own key
        env_after = Provisioner(None, REGION).provision()
        high_lane = env_after["QUEUE_HIGH_URL"].rsplit("/", 1)[-1]
        restored = snapshot.restore_data(doc, tmp_path, skip_queues=frozenset({high_lane}))
        ddb, kms, s3, sqs = _client("dynamodb"), _client("kms"), _client("s3"), _client("sqs")

        assert env_after == env  # the template's key (SECRETS_KEY_ID) too: found by its alias, not made again
        assert (restored.items, restored.objects, restored.messages, restored.skipped) == (2, 1, 2, [])
        assert ddb.get_item(TableName=env["TASKS_TABLE"], Key={"id": {"S": "t-1"}})["Item"] == TASK_ITEM
        assert ddb.get_item(TableName=env["API_KEYS_TABLE"], Key={"keyHash": {"S": "h"}})["Item"]["keyId"] == {
            "S": "key_1"}
        assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"whsec_kept"
        assert kms.describe_key(KeyId="alias/mine")["KeyMetadata"]["Arn"] == key["Arn"]
        got = s3.get_object(Bucket=env["OUTPUTS_BUCKET"], Key="out/report.csv")
        assert (got["Body"].read(), got["ContentType"]) == (b"a,b\n1,2\n", "text/csv")
        webhook = sqs.receive_message(QueueUrl=env["NOTIFICATIONS_QUEUE_URL"], AttributeNames=["All"],
                                      MessageAttributeNames=["All"])["Messages"]
        assert [(m["Body"], m["Attributes"]["MessageGroupId"], m["MessageAttributes"]["raw"]["BinaryValue"])
                for m in webhook] == [("webhook", "t-1", b"\x00")]
        assert sqs.receive_message(QueueUrl=env["DLQ_URL"]).get("Messages", []) == []  # still delayed
        counts = sqs.get_queue_attributes(QueueUrl=env["DLQ_URL"], AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
        assert sqs.receive_message(QueueUrl=env["QUEUE_HIGH_URL"]).get("Messages", []) == []  # a lane: skipped
        # A restored task is not a new one: the stream dispatcher must not send it again.
        assert _stream_records(env["TASKS_TABLE"]) == []
        ddb.put_item(TableName=env["TASKS_TABLE"], Item={"id": {"S": "t-2"}, "teamId": {"S": "team"}})
        assert [r["eventName"] for r in _stream_records(env["TASKS_TABLE"])] == ["INSERT"]


def test_object_bodies_are_kept_once_and_dropped_when_nothing_refers_to_them(credentials: None,
                                                                             tmp_path: Path) -> None:
    with mock_aws():
        s3 = _client("s3")
        s3.create_bucket(Bucket="kept-bucket")
        s3.put_object(Bucket="kept-bucket", Key="one", Body=b"same")
        s3.put_object(Bucket="kept-bucket", Key="two", Body=b"same")
        snapshot.write(tmp_path, snapshot.capture())
        assert len(list((tmp_path / snapshot.OBJECTS).iterdir())) == 1
        s3.delete_object(Bucket="kept-bucket", Key="one")
        s3.delete_object(Bucket="kept-bucket", Key="two")
        snapshot.write(tmp_path, snapshot.capture())
        assert list((tmp_path / snapshot.OBJECTS).iterdir()) == []
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def _unused_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise AssertionError("not called")


def test_an_emulator_that_has_a_snapshot_to_restore_never_overwrites_it_before_the_restore(
        credentials: None, tmp_path: Path) -> None:
    with mock_aws():
        _client("dynamodb").create_table(
            TableName="kept", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        _client("dynamodb").put_item(TableName="kept", Item={"id": {"S": "1"}})
        snapshot.write(tmp_path, snapshot.capture())
    saved = (tmp_path / snapshot.SNAPSHOT).read_text()
    with mock_aws():
        persistent = emulator.Persistent(_unused_app, tmp_path, period=60)
        persistent.snapshots.changed()
        persistent.snapshots.save()  # a write before the restore: nothing is written
        assert (tmp_path / snapshot.SNAPSHOT).read_text() == saved
        _client("dynamodb").create_table(  # what provisioning does
            TableName="kept", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        answers: list[str] = []
        body = persistent({"PATH_INFO": "/_taskhook/restore", "REQUEST_METHOD": "POST"},
                          lambda status, headers: answers.append(status))
        assert answers == ["200 OK"] and json.loads(b"".join(body))["items"] == 1
        persistent.snapshots.save()
        doc = snapshot.read(tmp_path)
        assert doc is not None and [t["items"] for t in doc["tables"]] == [[{"id": {"S": "1"}}]]


SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host"


@pytest.mark.parametrize(("service", "method", "target", "query", "changes"), [
    ("dynamodb", "POST", "DynamoDB_20120810.PutItem", "", True),
    ("dynamodb", "POST", "DynamoDB_20120810.UpdateItem", "", True),
    ("dynamodb", "POST", "DynamoDB_20120810.TransactWriteItems", "", True),
    ("dynamodb", "POST", "DynamoDB_20120810.GetItem", "", False),
    ("dynamodb", "POST", "DynamoDB_20120810.Query", "", False),
    ("dynamodb", "POST", "DynamoDBStreams_20120810.GetRecords", "", False),
    ("kms", "POST", "TrentService.CreateKey", "", True),
    ("kms", "POST", "TrentService.Decrypt", "", False),
    ("s3", "PUT", "", "", True),
    ("s3", "DELETE", "", "", True),
    ("s3", "GET", "", "", False),
    ("sqs", "POST", "AmazonSQS.SendMessage", "", False),  # counted, but not under the lock:
    (None, "GET", "", "X-Amz-Credential=testing%2F20240101%2Fus-east-1%2Fs3%2Faws4_request", False),
    (None, "PUT", "", "X-Amz-Credential=testing%2F20240101%2Fus-east-1%2Fs3%2Faws4_request", True),
])
def test_which_requests_change_what_the_snapshot_holds(
        service: str | None, method: str, target: str, query: str, changes: bool) -> None:
    environ = {"REQUEST_METHOD": method, "HTTP_X_AMZ_TARGET": target, "QUERY_STRING": query}
    if service:
        environ["HTTP_AUTHORIZATION"] = SIGNED.format(service=service)
    assert emulator.changes_state(environ) is changes


@pytest.mark.parametrize(("target", "changes"), [
    ("AmazonSQS.SendMessageBatch", True), ("AmazonSQS.DeleteMessage", True),
    ("AmazonSQS.ChangeMessageVisibility", True), ("AmazonSQS.ReceiveMessage", False),
    ("AmazonSQS.GetQueueAttributes", False),
])
def test_which_requests_change_the_queues(target: str, changes: bool) -> None:
    environ = {"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": target,
               "HTTP_AUTHORIZATION": SIGNED.format(service="sqs")}
    assert emulator.changes_messages(environ) is changes


def test_a_snapshot_waits_for_the_writes_in_progress_and_holds_new_ones_back() -> None:
    lock = snapshot.SharedExclusiveLock()
    events: list[str] = []
    writing, snapshot_started = threading.Event(), threading.Event()

    def take_snapshot() -> None:
        snapshot_started.set()
        with lock.exclusive():
            events.append("snapshot")

    with lock.shared():
        thread = threading.Thread(target=take_snapshot)
        thread.start()
        snapshot_started.wait()
        writing.wait(0.2)  # the snapshot is waiting for this write
        events.append("write done")
    thread.join(5)
    assert events == ["write done", "snapshot"]


def test_a_costly_snapshot_is_taken_less_often(tmp_path: Path) -> None:
    snapshots = snapshot.Snapshotter(tmp_path, snapshot.SharedExclusiveLock(), period=1.0)
    assert snapshots.wait_before_next() == 1.0
    snapshots.last_cost, snapshots.last_write = 0.2, 0.3  # half a second per snapshot
    assert snapshots.wait_before_next() == 0.5 * snapshot.COST_FACTOR


# ---- the data directory is private: it holds KMS key material and every stored secret ----------

@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """Every path under `root` (and root itself, as "."), with its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _private(modes: dict[str, int], root: Path) -> dict[str, int]:
    return {name: 0o700 if (root / name).is_dir() else 0o600 for name in modes}


def test_the_snapshot_and_its_objects_are_readable_by_their_owner_only(
        credentials: None, permissive_umask: None, tmp_path: Path) -> None:
    data = tmp_path / "data"  # not there yet: the first snapshot makes it
    with mock_aws():
        _client("kms").create_key(Description="its material goes into the snapshot")
        s3 = _client("s3")
        s3.create_bucket(Bucket="kept-bucket")
        s3.put_object(Bucket="kept-bucket", Key="one", Body=b"body")
        snapshot.write(data, snapshot.capture())
    modes = _modes(data)
    assert {snapshot.SNAPSHOT, snapshot.OBJECTS} < set(modes)
    assert len(list((data / snapshot.OBJECTS).iterdir())) == 1
    assert {name: oct(mode) for name, mode in modes.items()} == {
        name: oct(mode) for name, mode in _private(modes, data).items()}


def test_a_data_directory_left_readable_by_an_earlier_version_is_made_private(
        credentials: None, permissive_umask: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / snapshot.OBJECTS).mkdir(parents=True, mode=0o755)
    (data / snapshot.OBJECTS / ("0" * 64)).write_bytes(b"an old body")
    (data / snapshot.SNAPSHOT).write_text(json.dumps({"format": snapshot.FORMAT, "tables": []}))
    (data / "dev-key").write_text("thk_old")
    for path in [data, *data.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with mock_aws():
        emulator.Persistent(_unused_app, data, period=60)  # what the emulator does when it starts
    modes = _modes(data)
    assert len(modes) == 5
    assert {name: oct(mode) for name, mode in modes.items()} == {
        name: oct(mode) for name, mode in _private(modes, data).items()}


# ---- conditional writes are atomic per item, as in DynamoDB --------------------------------------


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """`python -m infra.emulator` as `make run` starts it (no data directory): its URL."""
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "infra.emulator", "-p", str(port)], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_the_emulator_keeps_a_client_s_connection_open_between_calls(emulator_process: str) -> None:
    """werkzeug's development server (moto's) ended the connection after each answer: every AWS
    call of the stack opened a TCP connection and cost the emulator a thread. Five calls on one
    connection: each answer leaves it open, and the same socket carries them all."""
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(emulator_process)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    sockets = []
    try:
        for _ in range(5):
            connection.request("POST", "/", body=b"{}", headers=headers)
            answer = connection.getresponse()
            assert (answer.status, json.loads(answer.read())) == (200, {"TableNames": []})
            assert not answer.will_close, answer.getheader("Connection")
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert len({id(sock) for sock in sockets}) == 1 and sockets[0] is not None


def test_concurrent_conditional_updates_of_one_item_let_exactly_one_through(emulator_process: str) -> None:
    """The lifecycle's exactly-once rests on this (DynamoDB's per-item atomicity). moto checks an
    UpdateItem's condition and writes without a lock of its own; through the emulator's threaded
    server, 300 items x 16 concurrent claims never let two through (measured in review of issue
    11). This guards that property of the emulator we ship."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ddb = boto3.client("dynamodb", endpoint_url=emulator_process, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(max_pool_connections=32, retries={"max_attempts": 0}))
    ddb.create_table(TableName="race", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")

    def claim(item: str, runner: int) -> bool:
        try:
            ddb.update_item(TableName="race", Key={"id": {"S": item}}, UpdateExpression="SET claimedBy = :r",
                            ConditionExpression="attribute_not_exists(claimedBy)",
                            ExpressionAttributeValues={":r": {"N": str(runner)}})
            return True
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        for item in range(100):
            wins = list(pool.map(lambda runner, item=item: claim(f"task-{item}", runner), range(16)))
            assert wins.count(True) == 1, (item, wins.count(True))


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """snapshot.track_changes() for this test only (its patches undone after it)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    for owner, name in [(Table, "put_item"), (Table, "delete_item"), (DynamoDBBackend, "update_item")]:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.setattr(snapshot, "_tracking", False)
    monkeypatch.setattr(snapshot, "_kept", {})
    monkeypatch.setattr(snapshot, "_changed", {})
    snapshot.track_changes()
    yield


def _every_item_now() -> dict[str, list[dict[str, Any]]]:
    """Each table's items read whole from moto's backends (what a capture must hold)."""
    from moto.dynamodb.models import dynamodb_backends

    out = {}
    for _account, _region, backend in snapshot._regions(dynamodb_backends):
        for name, table in backend.tables.items():
            out[name] = sorted((json.loads(snapshot._item_json(i)) for i in snapshot._items_of(table)),
                               key=lambda item: json.dumps(item, sort_keys=True))
    return out


def _captured(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    snapshot.write(tmp_path, snapshot.capture())
    doc = snapshot.read(tmp_path)
    assert doc is not None
    return {t["table"]: sorted(t["items"], key=lambda item: json.dumps(item, sort_keys=True)) for t in doc["tables"]}


def test_a_capture_keeps_up_with_every_kind_of_dynamodb_write(credentials: None, tracking: None,
                                                               tmp_path: Path) -> None:
    """Captures turn only the items written since the last one into JSON: after every kind of
    write moto has, the snapshot still holds exactly what the tables hold."""
    with mock_aws():
        ddb = _client("dynamodb")
        ddb.create_table(TableName="plain", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.create_table(TableName="ranged", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "N"}],
                         BillingMode="PAY_PER_REQUEST")
        for i in range(5):
            ddb.put_item(TableName="plain", Item={**TASK_ITEM, "id": {"S": f"t-{i}"}})
            ddb.put_item(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"N": str(i)}, "n": {"N": "0"}})
        steps: list[Any] = [
            lambda: None,
            lambda: ddb.update_item(TableName="plain", Key={"id": {"S": "t-1"}},
                                    UpdateExpression="SET #s = :s, notifications.n1.attempts = :a REMOVE tags",
                                    ExpressionAttributeNames={"#s": "status"},
                                    ExpressionAttributeValues={":s": {"S": "completed"}, ":a": {"N": "3"}}),
            lambda: ddb.update_item(TableName="ranged", Key={"pk": {"S": "a"}, "sk": {"N": "2"}},
                                    UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}}),
            lambda: ddb.update_item(TableName="plain", Key={"id": {"S": "new"}},  # an update that makes the item
                                    UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "x"}}),
            lambda: ddb.delete_item(TableName="plain", Key={"id": {"S": "t-0"}}),
            lambda: ddb.delete_item(TableName="ranged", Key={"pk": {"S": "a"}, "sk": {"N": "4"}}),
            lambda: ddb.batch_write_item(RequestItems={
                "plain": [{"PutRequest": {"Item": {"id": {"S": "b-1"}}}},
                          {"DeleteRequest": {"Key": {"id": {"S": "t-2"}}}}],
                "ranged": [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}}]}),
            lambda: ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"id": {"S": "x-1"}}}},
                {"Update": {"TableName": "ranged", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                            "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "9"}}}},
                {"Delete": {"TableName": "plain", "Key": {"id": {"S": "t-3"}}}}]),
            lambda: ddb.put_item(TableName="plain", Item={"id": {"S": "t-4"}, "v": {"S": "replaced"}}),
            lambda: ddb.create_table(TableName="later", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                     BillingMode="PAY_PER_REQUEST"),
            lambda: ddb.put_item(TableName="later", Item={"id": {"S": "l-1"}}),
            lambda: ddb.delete_table(TableName="ranged"),
        ]
        refused: list[Any] = [  # writes that fail change nothing (a failed transaction puts tables back whole)
            lambda: ddb.update_item(TableName="plain", Key={"id": {"S": "t-1"}}, UpdateExpression="SET v = :v",
                                    ConditionExpression="attribute_not_exists(id)",
                                    ExpressionAttributeValues={":v": {"S": "no"}}),
            lambda: ddb.put_item(TableName="plain", Item={"id": {"S": "t-1"}},
                                 ConditionExpression="attribute_not_exists(id)"),
            lambda: ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "plain", "Item": {"id": {"S": "x-2"}}}},
                {"Update": {"TableName": "plain", "Key": {"id": {"S": "t-1"}}, "UpdateExpression": "SET v = :v",
                            "ConditionExpression": "attribute_not_exists(id)",
                            "ExpressionAttributeValues": {":v": {"S": "no"}}}}]),
        ]
        for step in steps:
            step()
            assert _captured(tmp_path) == _every_item_now()
        for step in refused:
            with pytest.raises(ddb.exceptions.ClientError):
                step()
            assert _captured(tmp_path) == _every_item_now()
        assert {i["id"]["S"] for i in _captured(tmp_path)["plain"]} == {"t-1", "t-4", "new", "b-1", "x-1"}


def test_a_capture_turns_only_the_items_written_since_the_last_one_into_json(
        credentials: None, tracking: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        env = Provisioner(None, REGION).provision()
        ddb = _client("dynamodb")
        for i in range(50):
            ddb.put_item(TableName=env["TASKS_TABLE"], Item={**TASK_ITEM, "id": {"S": f"t-{i}"}})
        snapshot.capture()  # the first capture reads every item
        made = Counter[str]()
        item_json = snapshot._item_json

        def counted(item: Any) -> str:
            made[item.attrs["id"].value] += 1
            return item_json(item)

        monkeypatch.setattr(snapshot, "_item_json", counted)
        ddb.update_item(TableName=env["TASKS_TABLE"], Key={"id": {"S": "t-7"}}, UpdateExpression="SET v = :v",
                        ExpressionAttributeValues={":v": {"S": "x"}})
        ddb.put_item(TableName=env["TASKS_TABLE"], Item={**TASK_ITEM, "id": {"S": "t-new"}})
        state = snapshot.capture()
        assert made == Counter({"t-7": 1, "t-new": 1})
        tasks = next(t for t in state["tables"] if t["table"] == env["TASKS_TABLE"])
        assert len(tasks["itemsJson"]) == 51
        made.clear()
        snapshot.capture()
        assert made == Counter()  # nothing written since: nothing made again


def test_the_emulator_expires_items_as_ttl_does_in_its_own_process(credentials: None, tmp_path: Path) -> None:
    """`POST /_taskhook/expire` (the runner's expiry on the stack's own emulator): every item whose
    attribute is a number at or before `now` is deleted with its REMOVE record; nothing else is."""
    with mock_aws():
        env = Provisioner(None, REGION).provision()
        ddb, table = _client("dynamodb"), env["TASKS_TABLE"]
        rows = {"past": {"N": "1000"}, "now": {"N": "2000"}, "future": {"N": "2001"}, "text": {"S": "1"}, "none": None}
        for name, expires in rows.items():
            ddb.put_item(TableName=table, Item={"id": {"S": name}, "teamId": {"S": "t"},
                                                **({"expiresAt": expires} if expires else {})})
        before = len(_stream_records(table))
        persistent = emulator.Persistent(emulator.AtomicDynamoWrites(_unused_app), tmp_path, period=60)
        answers: list[str] = []

        def expire(body: bytes) -> Any:
            import io
            answer = persistent({"PATH_INFO": "/_taskhook/expire", "REQUEST_METHOD": "POST",
                                 "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)},
                                lambda status, headers: answers.append(status))
            return json.loads(b"".join(answer))

        for bad in (b"{}", b"not json", b'{"table": "x", "attribute": "expiresAt", "now": "NaN"}'):
            assert "error" in expire(bad) and answers.pop() == "400 Bad Request"
        assert expire(json.dumps({"table": table, "attribute": "expiresAt", "now": 2000}).encode()) == {"deleted": 2}
        assert answers == ["200 OK"]
        left = {i["id"]["S"] for i in ddb.scan(TableName=table)["Items"]}
        assert left == {"future", "text", "none"}
        removed = [r for r in _stream_records(table)[before:] if r["eventName"] == "REMOVE"]
        assert sorted(r["dynamodb"]["Keys"]["id"]["S"] for r in removed) == ["now", "past"]
        assert expire(json.dumps({"table": "no-such-table", "attribute": "expiresAt", "now": 9e9}).encode()) == {
            "deleted": 0}
