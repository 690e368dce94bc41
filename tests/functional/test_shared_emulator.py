"""Several stacks on one long-lived emulator (LocalStack, issue 12): each state directory has its
own resource prefix, a new one does not replay the stream from its oldest record, provisioning
waits for the table's stream, and the local credentials suit the emulator."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra import provision as provision_module
from infra.local_stack import local_credentials, resource_prefix
from infra.provision import Provisioner
from infra.runner import StreamSource, start_streams_at_tip
from infra.wiring import EventSource, event_sources

from .conftest import FAKE_CREDENTIALS, REGION, UNSET

SEEN: list[dict[str, Any]] = []


def record(event: dict[str, Any], _context: Any) -> None:
    """The stream handler of these tests: keeps what it was given."""
    SEEN.extend(event["Records"])


def _stream_source(provisioner: Provisioner) -> StreamSource:
    wired = next(s for s in event_sources(provisioner.template) if s.kind == "DynamoDB")
    source = EventSource(kind="DynamoDB", handler=f"{__name__}.record", resource=wired.resource,
                         batch_size=100, timeout=30)
    arn = provisioner.physical(wired.resource)["StreamArn"]
    return StreamSource(source, arn, boto3.client("dynamodbstreams", region_name=REGION))


def _put(provisioner: Provisioner, source: StreamSource, marker: str) -> None:
    table = provisioner.physical(source.source.resource)["Ref"]
    ddb = boto3.client("dynamodb", region_name=REGION)
    keys = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    attributes = ddb.describe_table(TableName=table)["Table"]["AttributeDefinitions"]
    kinds = {a["AttributeName"]: a["AttributeType"] for a in attributes}
    item = {k["AttributeName"]: {kinds[k["AttributeName"]]: f"{marker}-{k['AttributeName']}"} for k in keys}
    ddb.put_item(TableName=table, Item={**item, "marker": {"S": marker}})


def _markers() -> list[str]:
    return [r["dynamodb"]["NewImage"]["marker"]["S"] for r in SEEN if "NewImage" in r["dynamodb"]]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One moto server for the module, as one LocalStack serves many stacks (moto's in-process
    mock has no DynamoDB Streams API)."""
    from bench.stack import free_port

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        moto.stop()


@pytest.fixture
def emulator(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    return server


@pytest.fixture
def state(emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TASKHOOK_STATE_DIR", str(tmp_path))
    SEEN.clear()
    return tmp_path


def test_each_state_directory_gets_its_own_prefix_on_an_external_emulator(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert resource_prefix({}, external=False, directory=one) is None  # the template's default
    first = resource_prefix({}, external=True, directory=one)
    assert first is not None and first.startswith("th-")
    assert first == resource_prefix({}, external=True, directory=one)  # stable across restarts
    assert first != resource_prefix({}, external=True, directory=two)
    assert resource_prefix({"TASKHOOK_PREFIX": "mine"}, external=True, directory=one) == "mine"


def test_two_prefixes_share_no_table_queue_or_bucket(emulator: str) -> None:
    default = Provisioner(emulator, REGION).provision()
    first = Provisioner(emulator, REGION, "th-one").provision()
    second = Provisioner(emulator, REGION, "th-two").provision()
    names = [n for n, v in first.items() if v and ("TABLE" in n or "QUEUE" in n or "BUCKET" in n or "DLQ" in n)]
    assert len(names) >= 8, first
    for name in names:
        assert first[name] != second[name] != default[name], name
        assert "th-one" in first[name] and "th-two" in second[name], name


def test_local_credentials_are_test_on_an_external_emulator_and_testing_on_moto() -> None:
    assert local_credentials({}, external=False)["AWS_SECRET_ACCESS_KEY"] == "testing"
    external = local_credentials({}, external=True)
    assert external["AWS_ACCESS_KEY_ID"] == external["AWS_SECRET_ACCESS_KEY"] == "test"
    assert external["AWS_REGION"] == "us-east-1"
    chosen = local_credentials({"TASKHOOK_LOCAL_CREDENTIALS": "other"}, external=True)
    assert chosen["AWS_SECRET_ACCESS_KEY"] == chosen["AWS_SESSION_TOKEN"] == "other"


def test_a_new_state_directory_starts_after_what_the_stream_already_holds(state: Path) -> None:
    provisioner = Provisioner(os.environ["AWS_ENDPOINT_URL"], REGION, "th-shared")
    provisioner.provision()
    stream = _stream_source(provisioner)
    _put(provisioner, stream, "an-earlier-run")  # a stack that used this prefix before

    saved = start_streams_at_tip(provisioner)  # the new stack's start, before it writes anything
    assert list(saved) == [stream.arn]
    _put(provisioner, stream, "this-run")
    runner = _stream_source(provisioner)  # the runner starts later, in its own process
    while runner.poll_once():
        pass
    assert _markers() == ["this-run"]


def test_the_runner_hands_stream_records_on_in_their_wire_shape_as_lambda_does(state: Path) -> None:
    """A Lambda event carries binary values as base64 text and the record's time as epoch seconds:
    what GetRecords answers. The runner hands that answer on unparsed (botocore would turn them into
    bytes and datetimes)."""
    provisioner = Provisioner(os.environ["AWS_ENDPOINT_URL"], REGION, f"th-{uuid.uuid4().hex[:6]}")
    provisioner.provision()
    stream = _stream_source(provisioner)
    table = provisioner.physical(stream.source.resource)["Ref"]
    key = {"id": {"S": f"wire-{uuid.uuid4().hex[:6]}"}}
    values = {"bodyZ": {"B": b"\x00\xff"}, "n": {"N": "1"}, "tags": {"BS": [b"\x01", b"\x02"]},
              "m": {"M": {"inner": {"B": b"\x03"}, "l": {"L": [{"B": b"\x04"}, {"S": "s"}, {"NULL": True}]}}}}
    before = time.time()
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=table, Item={**key, **values})
    while stream.poll_once():
        pass
    [record] = [r for r in SEEN if r["dynamodb"]["Keys"] == key]
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == stream.arn
    assert {k: v for k, v in record["dynamodb"]["NewImage"].items() if k in values} == {
        "bodyZ": {"B": "AP8="}, "n": {"N": "1"}, "tags": {"BS": ["AQ==", "Ag=="]},
        "m": {"M": {"inner": {"B": "Aw=="}, "l": {"L": [{"B": "BA=="}, {"S": "s"}, {"NULL": True}]}}}}
    created = record["dynamodb"]["ApproximateCreationDateTime"]
    assert isinstance(created, int | float) and before - 2 <= created <= time.time() + 1
    json.dumps(record)  # as Lambda's event: JSON through and through
    shard = stream._streams.describe_stream(StreamArn=stream.arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = stream._streams.get_shard_iterator(StreamArn=stream.arn, ShardId=shard,
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    answer = stream._streams.get_records(ShardIterator=iterator)["Records"][-1]["dynamodb"]
    assert answer["NewImage"]["bodyZ"] == {"B": "AP8="}  # the client's answer itself: not parsed


def test_an_empty_stream_is_read_from_its_start_so_writes_before_the_first_read_count(
        state: Path) -> None:
    provisioner = Provisioner(os.environ["AWS_ENDPOINT_URL"], REGION, f"th-{uuid.uuid4().hex[:6]}")
    provisioner.provision()
    assert start_streams_at_tip(provisioner) == {}  # nothing there: no checkpoint, TRIM_HORIZON
    stream = _stream_source(provisioner)
    _put(provisioner, stream, "before-the-runner-read")  # a task created before the runner's first read
    runner = _stream_source(provisioner)
    while runner.poll_once():
        pass
    assert _markers() == ["before-the-runner-read"]


def test_a_saved_checkpoint_is_kept(state: Path) -> None:
    provisioner = Provisioner(os.environ["AWS_ENDPOINT_URL"], REGION, "th-kept")
    provisioner.provision()
    stream = _stream_source(provisioner)
    _put(provisioner, stream, "handled")
    while stream.poll_once():
        pass
    _put(provisioner, stream, "written-while-stopped")  # the stack restarts on the same state directory
    assert start_streams_at_tip(provisioner) == {}
    SEEN.clear()
    runner = _stream_source(provisioner)
    while runner.poll_once():
        pass
    assert _markers() == ["written-while-stopped"]


def test_provisioning_waits_until_the_tables_stream_is_enabled(
        emulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """LocalStack answers ENABLING for a while after CreateTable, and drops writes meanwhile."""
    statuses: list[str] = []
    make_client = boto3.client

    class Enabling:
        def __init__(self, real: Any) -> None:
            self.real, self.calls = real, 0

        def describe_stream(self, **kwargs: Any) -> Any:
            answer = self.real.describe_stream(**kwargs)
            self.calls += 1
            status = "ENABLING" if self.calls < 3 else answer["StreamDescription"]["StreamStatus"]
            answer["StreamDescription"]["StreamStatus"] = status
            statuses.append(status)
            return answer

    def client(service: str, **kwargs: Any) -> Any:
        real = make_client(service, **kwargs)
        return Enabling(real) if service == "dynamodbstreams" else real

    monkeypatch.setattr(provision_module.boto3, "client", client)
    monkeypatch.setattr(provision_module, "STREAM_POLL_SECONDS", 0.0)
    Provisioner(emulator, REGION, "th-waits").provision()
    assert "ENABLING" in statuses and statuses[-1] == "ENABLED", statuses
