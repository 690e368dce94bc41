"""The local event-source runner: what Lambda's triggers do on AWS, for the local stack.

- SQS: receives from each queue a function listens to, invokes its handler with the very event
  Lambda would build from ReceiveMessage, deletes only the records the handler did not report
  in `batchItemFailures`, and leaves the rest for SQS to redeliver (and redrive to the DLQ).
  Lanes are drained in order of their MaximumConcurrency: the high lane first. One lane worker
  at a time receives (the others run their batches or wait their turn): a short poll of each lane
  in that order; a lane found empty gets a long poll (LANE_WAIT) that watches it from then on, and
  when all of them are empty, the first answer of those polls wakes the receiver (a batch a poll
  found is run next, most urgent lane first). So a task sent to an idle lane is received as soon
  as it is there (the emulator wakes a long poll when a message arrives or becomes visible), an
  idle stack costs one receive per lane per LANE_WAIT, not a short poll every back-off step, and
  an empty high lane above a busy one costs the same, not an empty receive before every batch. Lanes are
  received with the handler's unclaimed hold as their visibility (`lane_visibility`), not the
  queue's 360 s: a runner that dies with a batch received but not yet run, or with a long poll out,
  leaves those tasks hidden for seconds.
- DynamoDB stream: reads each shard, invokes the handler with stream records, and on a reported
  failure retries from the failed record (it never skips one); the position is checkpointed in
  the state directory, so a restarted runner resumes where it stopped. Each record's old image is
  the one AWS would send, the item's previous record's new image, on an external emulator
  (infra/stream_images.py: LocalStack reads the images apart from the write).
- Schedule: invokes the scheduled handler every period (TASKHOOK_SCHEDULE_SECONDS overrides it).
- Expiry: what DynamoDB's TTL does on AWS, which the emulator does not: every
  TASKHOOK_EXPIRY_SECONDS (default 60) the expired task rows are deleted (adapters/dynamo/expiry.py),
  and their REMOVE records reach the stream handler as TTL's do (docs/retention.md).

Everything is wired from template.yaml's function Events (infra/wiring.py).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
import requests
from botocore.config import Config

from taskhook.config import CLIENT_POOL_SIZE

from . import aws_calls
from .children import exit_with_parent
from .provision import Provisioner
from .state import state_dir
from .stream_images import ImageChain
from .warm import import_everything
from .wiring import EventSource, event_sources

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
IDLE_MIN, IDLE_MAX = 0.02, 0.2
LONG_POLL = 2  # seconds, for queues without lanes (notifications, dead letters)
LANE_WAIT = 1  # seconds: the long poll of idle lanes (a stop waits for it at most this long)
FOUND_MARGIN = 0.5  # seconds before a found batch's visibility ends that it is no longer run
SHARD_REFRESH_SECONDS = 60.0
EXPIRY_SECONDS = 60.0
EMULATOR_CONTROL = "TASKHOOK_EMULATOR_CONTROL"  # the embedded emulator's /_taskhook/ URL, when the stack runs one
TTL_ATTRIBUTE = "expiresAt"  # the Tasks table's TimeToLiveSpecification (template.yaml)


def expire_tasks(now: float) -> int:
    """DynamoDB TTL's work on the Tasks table (the emulators have none): the expired rows deleted,
    each with its REMOVE record. With the stack's own emulator it is done in the emulator's process
    (EMULATOR_CONTROL, set by infra/local_stack.py; infra/emulator.py `expire_items`), which looks
    at each item once; otherwise (LocalStack) by a Scan (adapters/dynamo/expiry.py)."""
    from taskhook.container import container

    control = os.environ.get(EMULATOR_CONTROL)
    if not control:
        return container().local_expiry.expire(now)
    answer = requests.post(f"{control}expire", timeout=60,
                           json={"table": container().settings.tasks_table, "attribute": TTL_ATTRIBUTE, "now": now})
    answer.raise_for_status()
    return int(answer.json()["deleted"])


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = ""
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(dotted: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def invoke(source: EventSource, event: dict[str, Any]) -> Any:
    context = LambdaContext(source.handler.rpartition(".")[2], source.timeout)
    return load_handler(source.handler)(event, context)


def _failed_ids(response: Any) -> set[str]:
    if not isinstance(response, dict):
        return set()
    return {str(item["itemIdentifier"]) for item in response.get("batchItemFailures") or []}


def lane_visibility() -> int:
    """The visibility a lane's messages are received with: the executor's unclaimed hold, what the lane
    handler's first step (functions/executor.py `hold_until_claimed`) shortens a batch's visibility to.
    Lambda's poller receives with the queue's own (360 s) and the handler shortens it at once; here
    it is shortened in the receive itself, so a runner killed (or stopped) between a receive and that
    first step, or while its long poll is out (the emulator still hands that poll the next message),
    leaves the batch hidden for seconds, not six minutes (test_crash_recovery saw a task sit
    `pending` past its 120 s wait)."""
    from taskhook.container import container

    return math.ceil(container().executor.unclaimed_hold)


class QueueSource:
    def __init__(self, source: EventSource, url: str, arn: str, sqs: Any, visibility: int | None = None) -> None:
        self.source, self.url, self.arn, self._sqs = source, url, arn, sqs
        self.visibility = visibility  # seconds; None: the queue's own

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and run it; returns how many messages came."""
        return self.run(self.receive(wait_seconds))

    def receive(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        visibility = {} if self.visibility is None else {"VisibilityTimeout": self.visibility}
        return list(self._sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=min(10, self.source.batch_size),
            WaitTimeSeconds=wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"], **visibility,
        ).get("Messages", []))

    def run(self, received: list[dict[str, Any]]) -> int:
        """Invoke the handler with one received batch, delete what succeeded; returns the batch's size."""
        if not received:
            return 0
        event = {"Records": [self._record(m) for m in received]}
        try:
            failed = _failed_ids(invoke(self.source, event))
        except Exception as exc:  # noqa: BLE001 - Lambda: a raising handler fails the whole batch
            print(f"[runner] {self.source.handler} raised {type(exc).__name__}: {exc}", flush=True)
            return len(received)
        done = [m for m in received if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])
            ])
        return len(received)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": REGION,
        }


RAW_RECORDS = "taskhook-raw-stream-records"


def _raw_records(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """GetRecords' answer as it came (botocore's `before-parse` event): Lambda hands a handler the
    records in their wire shape (binary values as base64 text, times as epoch seconds), which is
    what the answer holds. botocore's parse of every attribute of every image, and turning it back,
    were half of the runner's stream reading. An error still goes through botocore's parse."""
    if response_dict.get("status_code") != 200:
        return
    customized_response_dict.update(json.loads(response_dict["body"] or b"{}"))
    response_dict["body"] = b"{}"


class StreamSource:
    """A stream's shards read for one function. Its client's GetRecords answers come unparsed
    (`_raw_records`, registered on the client it is given)."""

    def __init__(self, source: EventSource, stream_arn: str, streams: Any) -> None:
        self.source, self.arn, self._streams = source, stream_arn, streams
        streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", _raw_records, unique_id=RAW_RECORDS)
        self._checkpoint_file = state_dir() / "stream-checkpoint.json"
        self._iterators: dict[str, str | None] = {}
        self._shards_listed_at = -SHARD_REFRESH_SECONDS
        # Each record's old image as AWS sends it (infra/stream_images.py), on an external emulator:
        # the embedded one makes its images with the write.
        self._images = None if os.environ.get(EMULATOR_CONTROL) else ImageChain()

    def _checkpoints(self) -> dict[str, str]:
        try:
            data = json.loads(self._checkpoint_file.read_text())
        except (OSError, ValueError):
            return {}
        return dict(data.get(self.arn, {}))

    def _save(self, shard_id: str, sequence: str) -> None:
        if self._images is not None:
            self._images.settle(shard_id, sequence)
        try:
            data = json.loads(self._checkpoint_file.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault(self.arn, {})[shard_id] = sequence
        self._checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._checkpoint_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._checkpoint_file)

    def _iterator(self, shard_id: str, kind: str, sequence: str | None = None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence:
            kwargs["SequenceNumber"] = sequence
        return str(self._streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def _refresh_shards(self) -> None:
        """Look for new shards now and then (they appear when a shard splits or closes), not
        before every GetRecords."""
        if time.monotonic() - self._shards_listed_at < SHARD_REFRESH_SECONDS:
            return
        self._shards_listed_at = time.monotonic()
        saved = self._checkpoints()
        for shard in self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            if shard_id in saved:
                self._iterators[shard_id] = self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", saved[shard_id])
            else:
                self._iterators[shard_id] = self._iterator(shard_id, "TRIM_HORIZON")

    def tip(self) -> dict[str, str]:
        """The sequence number of each shard's last record now (shards with none are left out)."""
        last: dict[str, str] = {}
        for shard in self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            iterator: str | None = self._iterator(shard["ShardId"], "TRIM_HORIZON")
            while iterator:
                answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                records = answer.get("Records", [])
                if not records:
                    break
                last[shard["ShardId"]] = records[-1]["dynamodb"]["SequenceNumber"]
                iterator = answer.get("NextShardIterator")
        return last

    def poll_once(self) -> int:
        self._refresh_shards()
        handled = 0
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            answer = self._streams.get_records(ShardIterator=iterator, Limit=self.source.batch_size)
            records = answer.get("Records", [])
            self._iterators[shard_id] = answer.get("NextShardIterator")
            if self._iterators[shard_id] is None:  # the shard closed: its children follow at once
                self._shards_listed_at = -SHARD_REFRESH_SECONDS
            if not records:
                continue
            handled += len(records)
            event = {"Records": [self._record(r, shard_id) for r in records]}
            try:
                failed = _failed_ids(invoke(self.source, event))
            except Exception as exc:  # noqa: BLE001 - Lambda retries the whole batch
                print(f"[runner] {self.source.handler} raised {type(exc).__name__}: {exc}", flush=True)
                failed = {records[0]["dynamodb"]["SequenceNumber"]}
            sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
            if failed:
                first = min(failed, key=sequences.index)
                before = sequences[: sequences.index(first)]
                if before:
                    self._save(shard_id, before[-1])
                # Retry from the failed record, as Lambda does with ReportBatchItemFailures.
                self._iterators[shard_id] = self._iterator(shard_id, "AT_SEQUENCE_NUMBER", first)
                time.sleep(0.5)
            else:
                self._save(shard_id, sequences[-1])
        return handled

    def _record(self, emulated: dict[str, Any], shard_id: str) -> dict[str, Any]:
        record = emulated
        if self._images is not None:
            try:
                record = self._images.repair(emulated, shard_id)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a record unlike any seen: as it came
                print(f"[runner] stream record not checked for its old image ({type(exc).__name__})", flush=True)
        if record is not emulated:
            print(f"[runner] stream record {record['dynamodb']['SequenceNumber']}: its old image set from the "
                  "item's previous record, as AWS sends it (docs/localstack/README.md (c))", flush=True)
        return {
            "eventID": record.get("eventID", str(uuid.uuid4())),
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": record["dynamodb"],  # in its wire shape already (_raw_records)
            "eventSourceARN": self.arn,
        }


def start_streams_at_tip(provisioner: Provisioner) -> dict[str, dict[str, str]]:
    """For each stream a function reads that this state directory has no checkpoint for: save,
    per shard, the last record there now, so that the runner starts after it instead of
    replaying the shard from its oldest record (TRIM_HORIZON). Called before the stack writes
    anything, so every record of this run comes after the saved ones; a shard still empty keeps
    no checkpoint and is read from its start. Returns what it saved: {stream arn: {shard: seq}}."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    streams = boto3.client("dynamodbstreams", region_name=REGION, **({"endpoint_url": endpoint} if endpoint else {}))
    saved: dict[str, dict[str, str]] = {}
    for source in event_sources(provisioner.template):
        if source.kind != "DynamoDB":
            continue
        stream = StreamSource(source, provisioner.physical(source.resource)["StreamArn"], streams)
        if stream._checkpoints():
            continue
        for shard_id, sequence in stream.tip().items():
            stream._save(shard_id, sequence)
            saved.setdefault(stream.arn, {})[shard_id] = sequence
    return saved


class Runner:
    def __init__(self, workers: int, schedule_seconds: float | None) -> None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        # Idempotent: only looks up what exists (under the stack's prefix, infra/local_stack.py).
        provisioner = Provisioner(endpoint, REGION, os.environ.get("TASKHOOK_PREFIX") or None)
        # One connection per thread that may call at once (lane workers, long polls, the other
        # queues' pollers): a pool too small drops and reopens connections under load.
        kwargs: dict[str, Any] = {"region_name": REGION, "config": Config(max_pool_connections=CLIENT_POOL_SIZE),
                                  **({"endpoint_url": endpoint} if endpoint else {})}
        sqs = boto3.client("sqs", **kwargs)
        streams = boto3.client("dynamodbstreams", **kwargs)
        self.lanes: list[QueueSource] = []
        self.other_queues: list[QueueSource] = []
        self.streams: list[StreamSource] = []
        self.schedules: list[EventSource] = []
        held = lane_visibility()
        for source in event_sources(provisioner.template):
            if source.kind == "SQS":
                physical = provisioner.physical(source.resource)
                queue = QueueSource(source, physical["QueueUrl"], physical["Arn"], sqs,
                                    held if source.priority_lane else None)
                (self.lanes if source.priority_lane else self.other_queues).append(queue)
            elif source.kind == "DynamoDB":
                self.streams.append(StreamSource(source, provisioner.physical(source.resource)["StreamArn"], streams))
            elif source.kind == "Schedule":
                self.schedules.append(source)
            # WebSocket routes are invoked by infra/ws_server.py, not from here.
        self.lanes.sort(key=lambda q: -q.source.max_concurrency)
        self.workers = workers
        self.schedule_seconds = schedule_seconds
        self.stopping = threading.Event()
        self._receiving = threading.Lock()
        # Held by the receiver (under _receiving): the lanes' outstanding long polls, and batches
        # they found that no worker has taken yet.
        self._polls: dict[int, Future[tuple[list[dict[str, Any]], float]]] = {}
        self._found: list[tuple[int, list[dict[str, Any]], float]] = []  # lane, batch, received at
        self._pollers = ThreadPoolExecutor(max_workers=max(1, len(self.lanes)), thread_name_prefix="lane-poll")

    def _loop(self, name: str, step: Callable[[], int]) -> None:
        idle = IDLE_MIN
        while not self.stopping.is_set():
            try:
                worked = step()
            except Exception as exc:  # noqa: BLE001 - a runner thread must outlive one bad poll
                print(f"[runner] {name}: {type(exc).__name__}: {exc}", flush=True)
                worked = 0
                idle = IDLE_MAX
            if worked:
                idle = IDLE_MIN
                continue
            self.stopping.wait(idle)
            idle = min(IDLE_MAX, idle * 2)

    def _lanes_step(self) -> int:
        with self._receiving:  # one receiver at a time; see the module's docstring
            lane, batch = self._receive_by_priority()
        return lane.run(batch) if lane is not None else 0

    def _receive_by_priority(self) -> tuple[QueueSource | None, list[dict[str, Any]]]:
        while not self.stopping.is_set():
            self._collect_polls()
            if self._found:  # what a long poll brought, most urgent lane first
                index, batch, received_at = self._found.pop(0)
                if self._expired(self.lanes[index], received_at):
                    continue
                return self.lanes[index], batch
            for index, lane in enumerate(self.lanes):  # always the most urgent lane that has work
                if index in self._polls:
                    continue  # a long poll of it is out: what it finds comes through _found
                batch = lane.receive()
                if batch:
                    return lane, batch
                # Empty: a long poll watches it from now on (what it finds is taken first), rather
                # than a short poll before every batch of a busier lane below it.
                self._polls[index] = self._pollers.submit(self._long_poll, lane)
            # all empty: every lane has its long poll out; the first answer wakes this receiver
            wait(list(self._polls.values()), timeout=LANE_WAIT + 10, return_when=FIRST_COMPLETED)
        return None, []

    @staticmethod
    def _long_poll(lane: QueueSource) -> tuple[list[dict[str, Any]], float]:
        return lane.receive(LANE_WAIT), time.monotonic()

    @staticmethod
    def _expired(lane: QueueSource, received_at: float) -> bool:
        """Whether a batch a long poll found has waited for a worker until its visibility (nearly)
        ended: its messages are receivable again, so running it could run them twice. It is left
        for SQS to deliver again."""
        if lane.visibility is None or time.monotonic() - received_at < lane.visibility - FOUND_MARGIN:
            return False
        print(f"[runner] a batch of {lane.source.resource} waited past its visibility; left for redelivery",
              flush=True)
        return True

    def _collect_polls(self) -> None:
        failed = False
        for index, poll in list(self._polls.items()):
            if not poll.done():
                continue
            del self._polls[index]
            try:
                batch, received_at = poll.result()
            except Exception as exc:  # noqa: BLE001 - the next round polls the lane again
                print(f"[runner] long poll of {self.lanes[index].source.resource}: {type(exc).__name__}: {exc}",
                      flush=True)
                failed = True
                continue
            if batch:
                self._found.append((index, batch, received_at))
        self._found.sort(key=lambda found: found[0])
        if failed:
            self.stopping.wait(IDLE_MAX)

    def _schedule_loop(self, source: EventSource) -> None:
        period = self.schedule_seconds or source.rate_seconds
        while not self.stopping.wait(period):
            event = {
                "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "000000000000", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION, "resources": [f"arn:aws:events:{REGION}:000000000000:rule/local"], "detail": {},
            }
            try:
                invoke(source, event)
            except Exception as exc:  # noqa: BLE001
                print(f"[runner] {source.handler}: {type(exc).__name__}: {exc}", flush=True)

    def _expiry_loop(self, period: float) -> None:
        while not self.stopping.wait(period):
            try:
                expired = expire_tasks(time.time())
            except Exception as exc:  # noqa: BLE001 - the next period tries again
                print(f"[runner] expiry: {type(exc).__name__}: {exc}", flush=True)
                continue
            if expired:
                print(f"[runner] expiry: {expired} expired task(s) deleted", flush=True)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._loop, args=(f"lanes-{i}", self._lanes_step), daemon=True)
                   for i in range(self.workers)]
        # Like Lambda, a queue's function runs several invocations at once (up to its
        # MaximumConcurrency, capped for one machine): a slow batch does not hold the others.
        # These queues long-poll (the emulator wakes them when a message arrives): no priority to
        # keep, so no reason to spin.
        threads += [threading.Thread(target=self._loop, args=(q.source.handler, partial(q.poll_once, LONG_POLL)),
                                     daemon=True)
                    for q in self.other_queues for _ in range(min(4, max(1, q.source.max_concurrency)))]
        threads += [threading.Thread(target=self._loop, args=(s.source.handler, s.poll_once), daemon=True)
                    for s in self.streams]
        threads += [threading.Thread(target=self._schedule_loop, args=(s,), daemon=True) for s in self.schedules]
        expiry = float(os.environ.get("TASKHOOK_EXPIRY_SECONDS") or EXPIRY_SECONDS)
        threads.append(threading.Thread(target=self._expiry_loop, args=(expiry,), daemon=True))
        for thread in threads:
            thread.start()
        return threads


def main() -> None:
    exit_with_parent()
    import sys

    aws_calls.install_from_env("runner", sys.modules[__name__])  # counts AWS calls when TASKHOOK_AWS_CALL_LOG is set
    schedule = os.environ.get("TASKHOOK_SCHEDULE_SECONDS")
    import_everything()  # before any thread runs a handler: infra/warm.py
    runner = Runner(int(os.environ.get("TASKHOOK_RUNNER_WORKERS", "4")), float(schedule) if schedule else None)
    signal.signal(signal.SIGTERM, lambda *_: runner.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: runner.stopping.set())
    threads = runner.start()
    print(f"[runner] lanes {[q.source.resource for q in runner.lanes]}, {len(runner.streams)} stream(s), "
          f"{len(runner.schedules)} schedule(s)", flush=True)
    while not runner.stopping.wait(0.5):
        pass
    # Stopping: no new batch is taken; the batches in hand finish (as Lambda lets an invocation
    # finish), up to TASKHOOK_DRAIN_SECONDS. A call still running then is released at the next start.
    deadline = time.monotonic() + float(os.environ.get("TASKHOOK_DRAIN_SECONDS", "10"))
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    main()
