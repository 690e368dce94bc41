"""The embedded emulator: moto's server, run with changes that make it faster and some that make it
behave as SQS does.

- moto's dispatcher finds the backend for every request under one global lock, by listing its
  own package directory (`os.listdir` and `isdir` on some 200 entries) and matching a few hundred
  URL patterns. The answer depends only on the request's host, so it is remembered per host:
  profiling the benchmark showed most of the emulator's threads waiting on that lock.
- moto's SQS reads the clock through `datetime` for each message it looks at (`Message.visible`,
  `Message.delayed`), scans every message of the queue to count them whenever it reads the queue's
  attributes, and reads all of them three times for each message it returns (the retention
  check). With a backlog of thousands of messages (the 10,000-task soak) that made every send and
  receive cost milliseconds per message already queued, and the emulator spent its whole core
  there. The same clock is read with `time.time()`, and the retention check reads the one
  attribute it needs.
- moto's long poll (ReceiveMessage with WaitTimeSeconds) wakes when a message is sent, but a
  message whose delay or visibility timeout ends while it waits is seen only at the next check,
  up to a second later. It waits until the soonest such end instead (and a changed visibility
  wakes it): the local runner long-polls its idle lanes (infra/runner.py), and a delayed task or a
  retry is received when it is due, not up to a second after.
- moto's SQS changes a queue's messages without a lock (only a send holds the queue's lock, to
  append). A delete builds the queue's list anew from a pass over the old one: with two deletes at
  once, the later one's list was built from the list the earlier one replaced, so a message sent
  in between was lost and the earlier delete's message came back (a 10,000-task soak stranded a
  task so: pending, its message gone). Two receives at once both took a visible message. A
  delete, a receive (released while a long poll waits) and a visibility change hold the lock.
- moto's receive takes a FIFO queue's groups with a message in flight once, when it starts, and a
  long poll scans again after each wake with that old set: a poll that began before another
  receiver took a group's first message handed out the group's next one at once, and a task's
  'processing' callback overtook its 'pending' one. The set is taken again after each wake, as
  SQS holds a group until its message in flight is deleted or visible again; and a long poll
  waits while every visible message's group is held (moto's woke at once and scanned again, a
  busy loop until the poll's end), until such a message is deleted or visible again.
- A FIFO queue's deduplication id holds for five minutes after the send, as in SQS, also once its
  message is deleted; moto compares it only with the messages still queued. A stream batch retried
  after its notifications were delivered queued them again, and the customer got a second call.
  (The ids seen are not part of the snapshot: a restart forgets them.)
- moto serialises every answer through its generic, model-driven serializer, which looks up each
  attribute of each item or message under several aliases (`AttributePicker`): profiling a
  500-task burst put 70% of the emulator's CPU there. The answers of the hot operations
  (`FAST_OPERATIONS`: DynamoDB's item operations, the SQS message calls, the stream's GetRecords)
  are plain data in their wire shape already, so they are written with `json.dumps` (binary values
  base64, times in seconds, members outside the operation's output shape left out, as moto
  does); any other answer, and every error, still goes through moto's serializer.
- moto's DynamoDB parses an UpdateItem's expression twice per request and deep-copies the tree
  before validating it (`copy.deepcopy`, pure Python); that was most of what is left of an
  UpdateItem's cost. The parsed tree is kept per expression text (moto only reads it; the
  validator changes its own copy), and that copy is unpickled from the tree pickled once (C).
- Each of the ten passes that validate an update expression rebuilds its table of node kinds for
  every node it visits (`DepthFirstTraverser.nodes_to_be_processed`): built once per pass class.
  Each pass also asks `isinstance` of moto's node ABCs for every node (slow through `ABCMeta`) and
  rebuilds its processing map for every node it processes: answered once per (pass, node class),
  and built once per pass (`_traverse_node_recursively`, the same steps in the same order).
- Three of those passes check only the expression's shape, its names and the table's key
  attributes, and two of them look at every clause again from every node (their cost grows with
  the square of the expression: the executor's end of a task sets a dozen attributes). A kept
  tree that passed them with the same names and keys is not checked again (`_validate`). With the
  two changes above, moto's UpdateItem handler took 1.6-1.8 ms of CPU for the stack's claim and
  end writes, against 2.7-4.0 ms before (in process, interleaved runs).
- moto parses a condition or filter expression for every request (twice for a conditional put):
  the parse is kept per text, names and the values whose placeholders the text holds
  (`_parse_condition`). A claim's condition hits; a task's end, which names its claim token, is
  parsed each time.
- moto's server hands every request to a Flask app per service. The JSON calls of DynamoDB, its
  streams and SQS (a POST with `X-Amz-Target` and no `Origin`) go straight to the same handler
  with the same request object, and get the same answer, status, headers and body
  (`DirectCalls`): Flask's request context, URL matching and after-request hooks were 8 to 13 %
  of the emulator's CPU in a burst.
- moto lists the methods of a service's handler class (`inspect.getmembers`) for every request to
  find the action's: the list is made once per class.
- moto checks an item's size (its 405,000-byte limit) before it adds each attribute, sizing every
  attribute already there again, each value recursively: the square of the attribute count for
  every put (a task row has some forty) and for each SET of an update. Measured in process on a
  task-like row, most of a PutItem's CPU and a third of an UpdateItem's. The size is checked once:
  when a put's item is built (it only grows, so it is over the limit exactly when one of moto's
  checks was), and when an update's actions are done (as DynamoDB judges the item an update leaves;
  one that leaves it too large leaves it as it was).
- moto's DynamoDB sorts every item of a table for every Query (on the table or an index) and every
  Scan page (`Table.all_items`), comparing DynamoTypes with their Python `__lt__`: 0.3 s a call
  with 7,000 tasks, and a Scan of them (the local expiry, infra/runner.py) held the emulator for
  seconds while later bench scenarios ran. The order is the same, its key made once per item and
  compared in C.
- moto's server is werkzeug's development server, which ends the connection after every answer
  (and whose thread for it first waits up to 10 ms for more input): every AWS call of the stack
  opened a TCP connection and the emulator started a thread for it. A 500-task burst left 7.5
  closed connections a task behind. The emulator is served by waitress instead (`make_server`),
  which keeps a client's connection open for its next call and hands requests to a pool of
  threads. One GetItem cost the emulator 0.8-1.0 ms of CPU and the client 0.8-1.0 ms before,
  0.4-0.6 and 0.6-0.8 ms after (scratch loops, 1 and 8 client threads).
- A full garbage collection stops the whole process while it traverses every object, and the
  stored items are most of them: after one, the survivors are frozen, so the next looks only at
  what is new (infra/collector.py).

And one addition: with `--data-dir`, the emulator keeps its state across restarts (infra/snapshot.py:
DynamoDB items, KMS keys, S3 objects and SQS messages, snapshotted in this process every
`--snapshot-seconds` when something changed, and on SIGINT/SIGTERM). At start it puts the KMS keys
back at once; the rest goes back when the local stack asks (`POST /_taskhook/restore?skipQueue=…`,
after provisioning). `POST /_taskhook/snapshot` writes one now and says what it cost.
`POST /_taskhook/expire` does DynamoDB TTL's work on one table in this process (`expire_items`: the
local runner's expiry, infra/runner.py).

Everything else is moto's own `moto.server.main`. An external emulator (`AWS_ENDPOINT_URL`,
LocalStack) is used as it is, and nothing of it is snapshotted.

    python -m infra.emulator -H 127.0.0.1 -p 5000 [--data-dir .taskhook/data]
"""

from __future__ import annotations

import argparse
import base64
import calendar
import copy
import datetime
import functools
import json
import math
import os
import pickle
import re
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import waitress
from botocore.exceptions import ClientError
from flask import Response as FlaskResponse
from moto.core import responses as moto_responses
from moto.core.responses import ActionContext, ActionResult
from moto.core.utils import camelcase_to_underscores, convert_to_flask_response
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing import validators
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.settings import DISABLE_GLOBAL_CORS
from moto.sqs.models import Message, Queue, SQSBackend
from werkzeug.exceptions import HTTPException

from . import collector, snapshot
from .children import exit_with_parent

_lookup = DomainDispatcherApplication.get_backend_for_host
_add_message = Queue.add_message
_change_visibility = SQSBackend.change_message_visibility
_delete_message = Queue.delete_message
_receive_message = SQSBackend.receive_message
_list_methods = moto_responses.method_names_from_class
_moto_queue_attributes = Queue.attributes.fget  # type: ignore[attr-defined]
DEDUPLICATION_MS = 300_000


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    if host is None:
        return None
    known: dict[str, Any] = self.__dict__.setdefault("_backend_by_host", {})
    if host not in known:
        known[host] = _lookup(self, host)
    return known[host]


def _now_ms() -> float:
    return time.time() * 1000.0  # what moto's unix_time_millis() computes, through datetime


def _visible(self: Message) -> bool:
    return bool(_now_ms() > self.visible_at)


def _delayed(self: Message) -> bool:
    return bool(_now_ms() < self.delayed_until)


def _within_retention(self: SQSBackend, queue_name: str, message: Message) -> bool:
    retention_seconds = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_seconds + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]


def _receivable(queue: Queue) -> bool:
    """Whether a receive would find a message: a visible one, whose FIFO group has no message in
    flight (received, still invisible)."""
    visible = queue.messages
    if not visible or not queue.fifo_queue:
        return bool(visible)
    # tuple(): a copy taken without running Python code, so with the GIL held (receives change the set
    # outside the queue's lock)
    held = {m.group_id for m in tuple(queue._pending_messages) if m.group_id is not None and not m.visible}
    return any(m.group_id not in held for m in visible)


def _wait_for_messages(self: Queue, timeout: float) -> None:
    """Wait until a message is receivable: one is sent (moto notifies), a delay or visibility
    timeout ends (the soonest is waited for), a FIFO group's message in flight is deleted, or
    `timeout` is over."""
    deadline = time.time() + timeout
    with self._messages_lock:
        while not _receivable(self):
            now = time.time()
            # Only ends still ahead: a visible message of a held group has its end behind it, and
            # waiting for that one would wake at once, over and over.
            ends = (max(m.visible_at, m.delayed_until) / 1000.0 for m in self._messages)
            soonest = min((end for end in ends if end > now), default=deadline)
            wait = min(deadline, soonest) - now
            if wait <= 0:
                break
            self._messages_lock.wait(wait)
    taken = getattr(_receiving, "groups", None)
    if taken is not None:  # the receive scans again: with the groups in flight now
        taken.clear()
        taken.update(_groups_in_flight(self))


# The groups in flight that the receive running on this thread took (moto's `deepcopy` of them).
_receiving = threading.local()


class _GroupsInFlight(set[str]):
    """What moto's `Queue.pending_message_groups` gives: its copy, the receive's own set, is kept
    for this thread so that `_wait_for_messages` can take it again after a wake."""

    def __deepcopy__(self, memo: Any) -> set[str]:
        taken: set[str] = set(self)
        _receiving.groups = taken
        return taken


def _groups_in_flight(self: Queue) -> set[str]:
    return _GroupsInFlight(m.group_id for m in tuple(self._pending_messages) if m.group_id is not None)


def _change_and_wake(self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
    queue = self.get_queue(queue_name)
    with queue._messages_lock:  # (moto's change takes the message out of the in-flight set: not while a receive runs)
        _change_visibility(self, queue_name, receipt_handle, visibility_timeout)
        queue._messages_lock.notify_all()  # a long poll waiting for the old end of this message's visibility


def _delete_and_wake(self: Queue, receipt_handle: str) -> None:
    # Under the lock that moto's send takes to append: moto's delete builds the queue's list anew
    # from a pass over the old one, and a message appended between that pass and the assignment
    # was lost (and two deletes at once brought back the other's message).
    with self._messages_lock:
        _delete_message(self, receipt_handle)
        if self.fifo_queue:  # a group whose message in flight this was can be received from again
            self._messages_lock.notify_all()


def _receive_alone(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> list[Message]:
    """moto's receive, under the queue's lock (released while a long poll waits: `_wait_for_messages`
    waits on it): two receives at once both took a visible message, so it went to both receivers."""
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        return _receive_message(self, queue_name, *args, **kwargs)  # type: ignore[no-any-return]


def _add_unless_duplicate(self: Queue, message: Message) -> None:
    dedup = message.deduplication_id if self.fifo_queue else None
    if dedup is not None:
        now = _now_ms()
        seen: dict[str, float] = self.__dict__.setdefault("_deduplication_seen", {})
        if now - seen.get(dedup, -DEDUPLICATION_MS) < DEDUPLICATION_MS:
            return
        if len(seen) > 10_000:  # forget the ids whose interval is over
            for key in [k for k, at in seen.items() if now - at >= DEDUPLICATION_MS]:
                del seen[key]
        seen[dedup] = now
    _add_message(self, message)


# The answers that are plain data in their wire shape already (see the module's docstring).
FAST_OPERATIONS = frozenset({
    *(("dynamodb", name) for name in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                                      "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems")),
    *(("sqs", name) for name in ("SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch",
                                 "ChangeMessageVisibilityBatch")),
    ("dynamodbstreams", "GetRecords"),
})
_serialize_generic = ActionResult.execute_result


class _QueueAttributes(Mapping[str, Any]):
    """moto's `Queue.attributes`, each value worked out when it is read. moto's property builds them
    all for every read, and three of them count the queue's messages (a pass over all of them
    each); its send reads one (ContentBasedDeduplication), so every send cost as much as the queue
    held messages: 53 % of the emulator's CPU for a send to a queue of 2,000. The same names, in the
    same order, with the same values (booleans as "true"/"false")."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        self._names = dict.fromkeys(names)  # (a name twice: once, where moto's dict has it first)
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if name not in self._names:
                raise KeyError(name)
            queue = self._queue
            if name == "Policy" and queue.policy:
                value = queue.policy
            elif name == "RedrivePolicy" and queue.redrive_policy:
                value = json.dumps(queue.redrive_policy)
            else:
                value = getattr(queue, _underscored(name))
            self._values[name] = str(value).lower() if isinstance(value, bool) else value
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


@functools.cache
def _underscored(name: str) -> str:
    return camelcase_to_underscores(name)


class _NotWireShaped(TypeError):
    pass


def _wire(value: Any) -> Any:
    """What json.dumps cannot write itself, as moto's JSON serializer writes it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):  # the JSON protocols' default: seconds, milliseconds kept
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        seconds = calendar.timegm(aware.utctimetuple())
        return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
    raise _NotWireShaped(type(value).__name__)


def _serialize_fast(self: ActionResult, context: ActionContext) -> Any:
    """An answer of FAST_OPERATIONS as JSON at once; any other through moto's serializer."""
    operation = context.operation_model
    result = self.result
    shape = operation.output_shape
    if ((context.service_model.service_name, operation.name) not in FAST_OPERATIONS
            or not isinstance(result, dict) or shape is None or context.service_model.protocol != "json"):
        return _serialize_generic(self, context)
    members = shape.members  # type: ignore[attr-defined]
    try:
        body = json.dumps({k: v for k, v in result.items() if k in members and v is not None}, default=_wire)
    except _NotWireShaped:
        return _serialize_generic(self, context)
    version = context.service_model.metadata.get("jsonVersion", "1.0")
    return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body


_parse_update = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
_KEPT_TREES = 1024
_trees: dict[str, Any] = {}  # expression text -> its parsed tree (never changed: see _make_update)
_pickled: dict[int, bytes] = {}  # id of a kept tree -> the tree pickled (each validator's own copy)
_trees_lock = threading.Lock()


def _make_update(cls: type[UpdateExpressionParser], expression: str) -> Any:
    """moto's parse of an update expression, kept per expression text. moto only reads this tree
    (`find_clauses`) or hands it to a validator, which works on its own copy (`_copy_tree`), so
    every request can share it. An expression that does not parse raises every time, as before."""
    tree = _trees.get(expression)
    if tree is None:
        tree = _parse_update(cls, expression)
        with _trees_lock:
            if len(_trees) >= _KEPT_TREES:  # a stack's expressions are few; forget all if not
                _trees.clear()
                _pickled.clear()
                _shape_checked.clear()
            _pickled[id(tree)] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
            _trees[expression] = tree
    return tree


def _copy_tree(value: Any, memo: Any = None) -> Any:
    """`copy.deepcopy` for the validator's trees: a kept tree from its pickle, another one by a
    pickle round trip when it can (C, a fraction of deepcopy's time)."""
    kept = _pickled.get(id(value))  # a kept tree is alive while its id is here: the id is its own
    if kept is not None:
        return pickle.loads(kept)  # noqa: S301 - pickled in this process, above
    try:
        return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(value, memo)


_kinds_by_pass: dict[type, tuple[type, ...]] = {}
_kinds_of = DepthFirstTraverser.nodes_to_be_processed


def _nodes_to_be_processed(self: DepthFirstTraverser) -> tuple[type, ...]:
    """The node kinds a pass processes: the keys of its `_processing_map`, the same for every
    instance of its class (the values are its bound methods)."""
    kinds = _kinds_by_pass.get(type(self))
    if kinds is None:
        kinds = _kinds_by_pass[type(self)] = tuple(self._processing_map())
    return kinds


_moto_parse_condition = ConditionExpressionParser.parse
_KEPT_CONDITIONS = 4096
# (text, names, the values whose placeholder is in the text) -> moto's parse: (op, names found, values found)
_conditions: dict[tuple[Any, ...], tuple[Any, list[str], list[str]]] = {}


def _parse_condition(self: ConditionExpressionParser) -> Any:
    """moto's parse of a condition or filter expression, kept per text, names and the values it can
    name (every value whose placeholder occurs in the text: moto looks up no other), with the names
    and values it found (which moto's handlers check for unused ones). The parse is a tree of Ops
    that moto only evaluates (`op.expr(item)`, which changes nothing), so requests share it. A
    condition that carries a new value each time (the end of a task names its claim token) is
    parsed each time; one that does not parse raises each time."""
    text = self.condition_expression
    if not text:
        return _moto_parse_condition(self)
    values = self.expression_attribute_values or {}
    named = tuple(sorted((k, repr(v)) for k, v in values.items() if k in text))
    key = (text, tuple(sorted((self.expression_attribute_names or {}).items())), named)
    kept = _conditions.get(key)
    if kept is None:
        before = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
        op = _moto_parse_condition(self)
        if len(_conditions) >= _KEPT_CONDITIONS:
            _conditions.clear()
        _conditions[key] = (op, self.expr_attr_names_found[before[0]:], self.expr_attr_values_found[before[1]:])
        return op
    op, names_found, values_found = kept
    self.expr_attr_names_found.extend(names_found)
    self.expr_attr_values_found.extend(values_found)
    return op


_is_node: dict[type, bool] = {}  # a class -> whether its instances are Nodes (an ABC: isinstance is slow)
_kind_by_pass: dict[tuple[type, type], type | None] = {}  # (pass class, node class) -> the kind it processes
_moto_traverse = DepthFirstTraverser.traverse_node_recursively


def _kind(self: DepthFirstTraverser, node: Any) -> type | None:
    """The first of a pass's node kinds that `node` is an instance of (the processor moto's `process`
    picks), or None when the pass leaves the node alone; the same for every node of its class."""
    key = (type(self), type(node))
    try:
        return _kind_by_pass[key]
    except KeyError:
        kind = next((k for k in self.nodes_to_be_processed() if isinstance(node, k)), None)
        _kind_by_pass[key] = kind
        return kind


def _traverse_node_recursively(self: DepthFirstTraverser, node: Any, child_id: int = -1) -> Any:
    """moto's depth-first pass, the same steps in the same order, with its `isinstance` checks (of
    ABCs, for every node and every pass) answered once per class, and the pass's processing map
    built once per pass, not once per processed node."""
    is_node = _is_node.get(type(node))
    if is_node is None:
        is_node = _is_node[type(node)] = isinstance(node, Node)
    if not is_node:
        return node
    parent_node = node.parent
    if node.children is not None:
        for i, child_node in enumerate(node.children):
            self.pre_processing_of_child(node, i)
            self.traverse_node_recursively(child_node, i)
    kind = _kind(self, node)
    if kind is not None:
        processors = self.__dict__.get("_taskhook_processors")
        if processors is None:
            processors = self.__dict__["_taskhook_processors"] = self._processing_map()
        node = processors[kind](node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


# The passes that check only the expression's shape, its names and the table's key attributes (the
# item and the values play no part, and they change nothing): ActionCountValidator and
# OverlappingPathsValidator also look at every clause again from every node, so their cost grows
# with the square of the expression. A kept tree that passed them with the same names and keys
# passes again: they run once per (tree, names, keys).
_SHAPE_CHECKS = (validators.ActionCountValidator, validators.OverlappingPathsValidator,
                 validators.UpdateHashRangeKeyValidator)
_shape_checked: dict[tuple[Any, ...], Any] = {}  # (id of a kept tree, names, key attributes) -> that tree
_validator_init = validators.Validator.__init__
_moto_validate = validators.Validator.validate


def _validator_init_noting_tree(self: validators.Validator, expression: Any, *args: Any, **kwargs: Any) -> None:
    self._taskhook_tree = expression  # type: ignore[attr-defined]
    _validator_init(self, expression, *args, **kwargs)


def _validate(self: validators.Validator) -> Any:
    """moto's `Validator.validate`: every pass in order, but the shape checks of a kept tree that
    passed them before with the same names and key attributes."""
    tree = getattr(self, "_taskhook_tree", None)
    key = None
    if isinstance(self, validators.UpdateExpressionValidator) and id(tree) in _pickled:
        names = self.expression_attribute_names or {}
        key = (id(tree), tuple(sorted(names.items())), tuple(self.table.table_key_attrs))
    known = key is not None and _shape_checked.get(key) is tree  # `is`: an id is reused once its tree is gone
    node = self.node_to_validate
    for processor in self.processors:
        if isinstance(processor, _SHAPE_CHECKS):
            if known:
                continue
        elif key is not None and not known:  # every shape check passed (each raises otherwise)
            if len(_shape_checked) >= _KEPT_TREES * 4:
                _shape_checked.clear()
            _shape_checked[key] = tree
            known = True
        node = processor.traverse(node)
    return node


def _item_order(item: Item) -> Any:
    """moto's sort key of an item, `(hash_key, range_key) if range_key else hash_key`, as the
    values DynamoType compares (`cast_value`: str, Decimal or bytes)."""
    if item.range_key:
        return item.hash_key.cast_value, item.range_key.cast_value
    return item.hash_key.cast_value


_moto_all_items = Table.all_items


def _all_items(self: Table) -> list[Item]:
    return sorted(snapshot._items_of(self), key=_item_order)


# moto's item size limit (LimitedSizeDict): "between 409 and 410KB" measured, DynamoDB's 400 KB documented.
ITEM_SIZE_LIMIT = 405000
_writing = threading.local()  # `bulk`: an item being built or updated as a whole, its size checked at the end
_moto_set_attribute = LimitedSizeDict.__setitem__
_moto_item_init = Item.__init__
_moto_execute = UpdateExpressionExecutor.execute


def _attributes_size(attrs: dict[str, Any]) -> int:
    """An item's size as moto's LimitedSizeDict counts it: its names and its values."""
    return sum(bytesize(name) + (value.size() if type(value) is DynamoType else bytesize(str(value)))
               for name, value in attrs.items())


def _set_attribute(self: LimitedSizeDict, key: str, value: Any) -> None:
    if getattr(_writing, "bulk", False):
        dict.__setitem__(self, key, value)
    else:
        _moto_set_attribute(self, key, value)


def _item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's Item, its size checked once: moto sized every attribute again for each one it added
    (each DynamoType sized recursively), the square of the attribute count, for every put. The
    attributes only grow while it is built, so the whole is over the limit when and only when one
    of moto's checks was."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    for key, value in attrs.items():
        dict.__setitem__(self.attrs, key, DynamoType(value))
    if _attributes_size(self.attrs) > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge


def _execute_then_size(self: UpdateExpressionExecutor, node: Any = None) -> None:
    """An update expression's actions, the item's size checked once they are all done, as DynamoDB
    judges the item the update leaves (moto checked before each SET, counting a replaced value with
    its replacement, and nested SETs, ADDs and DELETEs not at all); an update that leaves it too
    large leaves it as it was, as DynamoDB does (moto's Item copy: 0.09 ms for a task row, against
    0.8 for a generic deepcopy of its attributes). moto's update_item answers the ItemSizeTooLarge
    as before."""
    if node is not None:  # moto's walk of the tree, from the root call below
        return _moto_execute(self, node)
    attrs = self.item.attrs
    before = copy.deepcopy(self.item).attrs
    _writing.bulk = True
    try:
        _moto_execute(self)
    finally:
        _writing.bulk = False
    if _attributes_size(attrs) > ITEM_SIZE_LIMIT:
        attrs.clear()
        dict.update(attrs, before)
        raise ItemSizeTooLarge


@functools.cache
def _method_names(cls: type) -> frozenset[str]:
    """moto's `method_names_from_class`, which lists a handler class's methods (inspect.getmembers)
    for every request: once per class."""
    return frozenset(_list_methods(cls))


def apply() -> None:
    """Install the changes above into moto (idempotent)."""
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
    Message.visible = property(_visible)  # type: ignore[method-assign,assignment]
    Message.delayed = property(_delayed)  # type: ignore[method-assign,assignment]
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
    Queue.add_message = _add_unless_duplicate  # type: ignore[method-assign]
    Queue.delete_message = _delete_and_wake  # type: ignore[method-assign]
    Queue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign]
    Queue.pending_message_groups = property(_groups_in_flight)  # type: ignore[method-assign,assignment]
    Queue.attributes = property(_QueueAttributes)  # type: ignore[method-assign,assignment]
    SQSBackend.change_message_visibility = _change_and_wake  # type: ignore[method-assign]
    SQSBackend.receive_message = _receive_alone  # type: ignore[method-assign]
    ActionResult.execute_result = _serialize_fast  # type: ignore[method-assign]
    UpdateExpressionParser.make = classmethod(_make_update)  # type: ignore[method-assign,assignment]
    validators.deepcopy = _copy_tree
    moto_responses.method_names_from_class = _method_names
    DepthFirstTraverser.nodes_to_be_processed = _nodes_to_be_processed  # type: ignore[method-assign]
    DepthFirstTraverser.traverse_node_recursively = _traverse_node_recursively  # type: ignore[method-assign]
    validators.Validator.__init__ = _validator_init_noting_tree  # type: ignore[method-assign]
    validators.Validator.validate = _validate  # type: ignore[method-assign]
    ConditionExpressionParser.parse = _parse_condition  # type: ignore[method-assign]
    Table.all_items = _all_items  # type: ignore[method-assign]
    LimitedSizeDict.__setitem__ = _set_attribute  # type: ignore[method-assign,assignment]
    Item.__init__ = _item_init  # type: ignore[method-assign]
    UpdateExpressionExecutor.execute = _execute_then_size  # type: ignore[method-assign]


_SCOPE = re.compile(r"/[0-9]{8}/[^/]+/([a-z0-9-]+)/aws4_request")
_READS = ("Get", "BatchGet", "Query", "Scan", "Describe", "List", "Encrypt", "Decrypt", "ReEncrypt",
          "Generate", "Sign", "Verify")
CONTROL = "/_taskhook/"
Environ = dict[str, Any]


def _service(environ: Environ) -> str:
    credential = environ.get("HTTP_AUTHORIZATION") or urllib.parse.unquote(environ.get("QUERY_STRING", ""))
    scope = _SCOPE.search(credential)
    return scope.group(1) if scope else ""


def changes_messages(environ: Environ) -> bool:
    """Whether a request adds, removes or delays SQS messages (a receive does not count: what a
    receive changes, the visibility of a message in hand, a restart gives back anyway)."""
    operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[2]
    return _service(environ) == "sqs" and operation.startswith(("Send", "Delete", "ChangeMessage", "Purge"))


def changes_state(environ: Environ) -> bool:
    """Whether a request may change the items, keys or objects the snapshot holds (a DynamoDB,
    S3 or KMS write): those run under the shared side of the snapshot's lock."""
    service = _service(environ)
    if service == "s3":
        return environ.get("REQUEST_METHOD") not in ("GET", "HEAD", "OPTIONS")
    if service == "kms":
        return not environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[2].startswith(_READS)
    return writes_dynamodb(environ)


def writes_dynamodb(environ: Environ) -> bool:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    prefix, _, operation = target.partition(".")
    return _service(environ) == "dynamodb" and prefix.startswith("DynamoDB_") and not operation.startswith(_READS)


DIRECT_SERVICES = frozenset({"dynamodb", "dynamodbstreams", "sqs"})


class DirectCalls:
    """The JSON calls of DynamoDB, its streams and SQS go to moto's handler without Flask.

    moto's server hands every request to a Flask app per service: a request context, URL
    matching, Flask-CORS's after-request hook, then `convert_to_flask_response`, which calls the
    handler's `dispatch`. Flask's part was 8 to 13 % of the emulator's CPU in a burst. For a POST
    with an `X-Amz-Target` (the JSON protocol: the action is in the header, the path is the
    endpoint's root) and no `Origin` (no CORS headers are due), this calls the same `dispatch`
    with the same request object and writes the same response as `convert_to_flask_response` and
    Flask-CORS (`Access-Control-Allow-Origin: *`). Anything else goes through moto's app as before."""

    def __init__(self, dispatcher: DomainDispatcherApplication) -> None:
        self.dispatcher = dispatcher
        self._views: dict[tuple[int, str], Any] = {}  # (id of a service's app, path) -> its view

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") != "POST" or "HTTP_X_AMZ_TARGET" not in environ
                or "HTTP_ORIGIN" in environ or _service(environ) not in DIRECT_SERVICES):
            return self.dispatcher(environ, start_response)  # type: ignore[no-any-return]
        app = self.dispatcher.get_application(environ)
        view = self._view(app, environ)
        if view is None:
            return app(environ, start_response)  # type: ignore[no-any-return]
        request = BackendRequest(environ)
        recorder._record_request(request)
        try:
            result = view.callback(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = FlaskResponse(response=content, status=status, headers=headers)
        if not DISABLE_GLOBAL_CORS:  # what Flask-CORS adds to an answer to a request without an Origin
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response(environ, start_response)  # type: ignore[no-any-return]

    def _view(self, app: Any, environ: Environ) -> Any:
        """moto's view for this request's path: a `convert_to_flask_response` of a handler."""
        key = (id(app), environ.get("PATH_INFO", ""))
        if key not in self._views:
            try:
                endpoint, _ = app.url_map.bind_to_environ(environ).match(method="POST")
                view = app.view_functions.get(endpoint)
            except HTTPException:
                view = None
            self._views[key] = view if isinstance(view, convert_to_flask_response) else None
        return self._views[key]


class AtomicDynamoWrites:
    """DynamoDB writes one at a time. DynamoDB checks a write's condition and makes the write as
    one step per item; moto does not (no lock around them), so under the threaded server two
    conditional claims of one task could both pass (seen under load: 2 of 16 concurrent claims of
    one item). The lifecycle's exactly-once rests on that step, so the emulator serialises every
    DynamoDB write (reads, SQS, S3 and KMS still run concurrently)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not writes_dynamodb(environ):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        with self.lock:
            return list(self.app(environ, start_response))


def expire_items(table_name: str, attribute: str, now: float) -> int:
    """What DynamoDB's TTL does, done in this process: delete every item of `table_name` whose
    `attribute` is a number at or before `now` (epoch seconds). Each delete streams a REMOVE
    record, as TTL's do. The local stack's runner used a Scan with a filter for this
    (adapters/dynamo/expiry.py, still what it does on LocalStack), which moto answers by copying
    and sizing every item: 3.3 s of the emulator's time with 11,000 tasks, once a minute, and
    delayed tasks due meanwhile ran up to 1.5 s late. Here it is one look at each item."""
    deleted = 0
    for _account, _region, backend in snapshot._regions(dynamodb_backends):
        table = backend.tables.get(table_name)
        if table is None:
            continue
        for item in list(snapshot._items_of(table)):
            value = item.attrs.get(attribute)
            if value is None or value.type != "N" or not float(value.value) <= now:  # (NaN: kept)
                continue
            table.delete_item(item.hash_key, item.range_key)
            deleted += 1
    return deleted


class Persistent:
    """The WSGI app with the snapshot around it: writes to the snapshotted services run under the
    shared side of the snapshot's lock and mark the state changed; `/_taskhook/` is ours."""

    def __init__(self, app: Callable[..., Any], data_dir: Path, period: float) -> None:
        self.app, self.data_dir = app, data_dir
        # DynamoDB writes made here (the expiry) take the same lock as the requests' writes
        self.writes = app.lock if isinstance(app, AtomicDynamoWrites) else threading.Lock()
        self.lock = snapshot.SharedExclusiveLock()
        self.snapshots = snapshot.Snapshotter(data_dir, self.lock, period)
        self.saved = snapshot.read(data_dir)
        self.keys_restored = snapshot.restore_keys(self.saved) if self.saved else 0
        if self.saved is None:  # nothing to restore: snapshots start now
            self.snapshots.arm()

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL):
            return self._control(environ, start_response)
        if not changes_state(environ):
            # SQS calls never wait for a snapshot (a long poll would hold it up); a message is
            # copied whole or not at all, and the lanes' messages are not restored anyway.
            if changes_messages(environ):
                self.snapshots.changed()
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        with self.lock.shared():
            body = list(self.app(environ, start_response))
        self.snapshots.changed()
        return body

    def _control(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        action = environ["PATH_INFO"][len(CONTROL):]
        answer: dict[str, Any]
        if action == "restore" and environ.get("REQUEST_METHOD") == "POST":
            answer = {"kmsKeys": self.keys_restored}
            if self.saved is not None and not self.snapshots.armed:
                skip = frozenset(urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("skipQueue", []))
                with self.lock.exclusive():
                    answer |= snapshot.restore_data(self.saved, self.data_dir, skip).as_dict()
                self.saved = None
            self.snapshots.arm()
        elif action == "expire" and environ.get("REQUEST_METHOD") == "POST":
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
                asked = json.loads(environ["wsgi.input"].read(size) or b"{}")
                table, attribute, now = str(asked["table"]), str(asked["attribute"]), float(asked["now"])
                if isinstance(asked["now"], bool) or not math.isfinite(now):
                    raise ValueError(now)
            except (ValueError, KeyError, TypeError):
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "expire takes a JSON body: table, attribute, now (epoch seconds)"}']
            with self.lock.shared(), self.writes:
                answer = {"deleted": expire_items(table, attribute, now)}
            if answer["deleted"]:
                self.snapshots.changed()
        elif action == "snapshot" and environ.get("REQUEST_METHOD") == "POST":
            self.snapshots.save()
            answer = {"heldSeconds": self.snapshots.last_cost, "writeSeconds": self.snapshots.last_write,
                      "writes": self.snapshots.writes}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "no such control action"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


# Requests served at once: each long poll (up to 20 s) holds a thread while it waits, and a request
# that finds every thread busy waits for one. The local runner long-polls a few queues at a time.
SERVER_THREADS = 64
CONNECTION_LIMIT = 1000  # open connections: each client keeps up to CLIENT_POOL_SIZE (config.py)


def _raw_uri(app: Any) -> Any:
    """moto reads an S3 key as it arrived from RAW_URI (werkzeug's name; waitress's is REQUEST_URI)."""
    def wrapped(environ: Environ, start_response: Any) -> Any:
        environ.setdefault("RAW_URI", environ.get("REQUEST_URI", ""))
        return app(environ, start_response)
    return wrapped


def make_server(app: Any, host: str, port: int) -> Any:
    """The emulator's HTTP server (waitress, connections kept open; see the docstring): `.run()`
    serves until the process ends, `.effective_port` is the port it listens on (0 picks one)."""
    return waitress.create_server(_raw_uri(app), host=host, port=port, threads=SERVER_THREADS,
                                  connection_limit=CONNECTION_LIMIT, asyncore_use_poll=True,
                                  ident="taskhook-emulator")


def main(argv: list[str] | None = None) -> None:
    exit_with_parent()
    apply()
    collector.install()
    parser = argparse.ArgumentParser(description="moto's server, with the local stack's changes")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--data-dir", type=Path, help="keep DynamoDB items, KMS keys and S3 objects here")
    parser.add_argument("--snapshot-seconds", type=float, default=snapshot.PERIOD)
    args = parser.parse_args(argv)

    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto's own main does
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True
    app: Any = AtomicDynamoWrites(DirectCalls(moto_app))
    persistent = None
    if args.data_dir:
        snapshot.track_changes()  # captures redo only the items written since the last one
        persistent = app = Persistent(app, args.data_dir, args.snapshot_seconds)
        persistent.snapshots.start()

    server = make_server(app, args.host, args.port)

    def stop(_signum: int, _frame: Any) -> None:
        code = 0
        if persistent is not None:
            try:
                persistent.snapshots.save()
            except Exception as exc:  # noqa: BLE001 - say so; the previous snapshot stays as it was
                print(f"[emulator] final snapshot failed: {type(exc).__name__}: {exc}", flush=True)
                code = 1
        # Now, not after waitress's shutdown, which waits up to 5 s for its threads (a long poll
        # holds one for up to 20 s): the state is saved, and nothing else is kept.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.run()


if __name__ == "__main__":
    main()
