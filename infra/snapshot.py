"""What the embedded emulator keeps across restarts: a snapshot of moto's backends, taken inside
the emulator's own process (no HTTP, no Scan) and written atomically to the data directory.

moto keeps everything in memory. The snapshot holds
- every item of every DynamoDB table (tasks, API keys and client tokens, teams and their webhook
  signing secrets, connections, idempotency records; whatever template.yaml declares);
- every KMS key: its id, ARN, key material, aliases and tags, so that a ciphertext made before a
  restart still decrypts after it (moto draws key ids and material at random);
- every S3 object (bodies in `objects/`, one file per content hash, written once);
- every SQS message, with its delay, visibility and receive count. The local stack does not put
  the task lanes' messages back: it re-enqueues every unfinished task from the table instead
  (taskhook.dispatch.recovery), which also covers the messages a run had in hand.

It does not hold the DynamoDB stream: the restored items never appear in the new table's stream
(they are put with the stream detached), so nothing is dispatched twice.

Restoring is in two steps, because provisioning stands between them: KMS keys go back before
provisioning (which then finds its key by its alias instead of making a new one); items, objects
and messages go back after it, into the tables, buckets and queues it made.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends

SNAPSHOT = "snapshot.json"
OBJECTS = "objects"
FORMAT = 1
PERIOD = 1.0  # seconds between snapshots while something changes: the loss window after a crash
COST_FACTOR = 10.0  # a snapshot takes at most about a tenth of the emulator's time
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600  # the data directory holds key material: its owner's only


class SharedExclusiveLock:
    """Many requests at once, or one snapshot alone: a snapshot never reads an item halfway
    through an update, and requests wait only while a snapshot copies the backends."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True  # new shared holders wait from here on
            while self._shared:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _regions(backends: Any) -> Iterator[tuple[str, str, Any]]:
    for account_id, regions in list(backends.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


# ---- capture ------------------------------------------------------------------------------

def _raw(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _wire(attribute: Any) -> dict[str, Any]:
    """A moto DynamoType as DynamoDB's wire JSON (binary as base64, as PutItem takes it)."""
    kind, value = attribute.type, attribute.value
    if kind == "M":
        return {kind: {k: _wire(v) for k, v in value.items()}}
    if kind == "L":
        return {kind: [_wire(v) for v in value]}
    if kind in ("SS", "NS", "BS"):
        return {kind: [_raw(v) for v in value]}
    return {kind: _raw(value)}


def _items_of(table: Any) -> Iterator[Any]:
    for by_hash in list(table.items.values()):  # moto's Table.all_items() also sorts them
        if table.range_key_attr:
            yield from list(by_hash.values())
        else:
            yield by_hash


def _item_json(item: Any) -> bytes:
    return json.dumps({name: _wire(value) for name, value in item.attrs.items()}, separators=(",", ":")).encode()


# ---- the items changed since the last capture ----------------------------------------------
#
# A capture runs with every write held back (the exclusive side of the lock). Turning every item
# into JSON each time made that hold grow with the table: about a second with 7,000 tasks on a
# busy emulator, every second or two, and a write that came then (a claim, a task's end) waited
# for it (a delayed task fired 1.4 s late). So each item's JSON is kept, and a capture turns into
# JSON only the items written since the last one. moto changes an item in three places, each
# patched to note the item's key: Table.put_item (PutItem, BatchWriteItem, a transaction's Put,
# an update that makes the item), Table.delete_item, and DynamoDBBackend.update_item (which
# changes the stored item in place). A table object not seen before (created, restored, or put
# back whole by a failed transaction) is read whole.

Key = tuple[Any, Any]  # (hash key, range key or None), as moto's DynamoTypes
_changed: dict[int, tuple[Any, set[Key]]] = {}  # id(table) -> (table, keys written since the last capture)
_tracking = False


def _note(table: Any, hash_key: Any, range_key: Any) -> None:
    entry = _changed.get(id(table))
    if entry is None or entry[0] is not table:
        entry = _changed[id(table)] = (table, set())
    entry[1].add((hash_key, range_key))


def track_changes() -> None:
    """Note the key of every item written from now on, so that captures only turn those into
    JSON (idempotent). Until this runs, every capture reads every item."""
    global _tracking  # noqa: PLW0603 - one switch for the process, as the patches are
    if _tracking:
        return
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    put, delete, update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put(self, *args, **kwargs)
        _note(self, item.hash_key, item.range_key)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:
            _note(self, hash_key, range_key)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return update(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table.hash_key_attr in key:
                range_value = key.get(table.range_key_attr) if table.range_key_attr else None
                _note(table, DynamoType(key[table.hash_key_attr]),
                      DynamoType(range_value) if range_value is not None else None)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    _tracking = True


@dataclass
class _TableJson:
    table: Any  # the moto Table these are of (kept, so its id is never another table's meanwhile)
    items: dict[Key, bytes]  # each item's JSON


_kept: dict[tuple[str, str, str], _TableJson] = {}


def _stored(table: Any, key: Key) -> Any:
    """The item stored under `key`, or None (moto's Table.get_item would add an empty entry for a
    range table's missing hash key)."""
    hash_key, range_key = key
    if table.range_key_attr:
        return table.items.get(hash_key, {}).get(range_key)
    return table.items.get(hash_key)


def _table_json(where: tuple[str, str, str], table: Any) -> list[bytes]:
    """The table's items as JSON texts: the ones kept, with the items changed since redone. If
    that fails part way, the table is read whole next time (its notes are spent)."""
    changed = _changed.pop(id(table), None)
    kept = _kept.get(where)
    try:
        if not _tracking or kept is None or kept.table is not table:
            kept = _kept[where] = _TableJson(table, {(i.hash_key, i.range_key): _item_json(i)
                                                     for i in _items_of(table)})
        elif changed is not None and changed[0] is table:
            for key in changed[1]:
                item = _stored(table, key)
                if item is None:
                    kept.items.pop(key, None)
                else:
                    kept.items[key] = _item_json(item)
    except BaseException:
        _kept.pop(where, None)
        raise
    return list(kept.items.values())


def _tables() -> list[dict[str, Any]]:
    out, seen, present = [], set(), set()
    for account_id, region, backend in _regions(dynamodb_backends):
        for name, table in list(backend.tables.items()):
            seen.add((account_id, region, name))
            present.add(id(table))
            out.append({"account": account_id, "region": region, "table": name,
                        "itemsJson": _table_json((account_id, region, name), table)})
    for where in set(_kept) - seen:  # a table deleted (or a mock's backends reset)
        del _kept[where]
    for gone in set(_changed) - present:  # notes of tables no longer in any backend
        del _changed[gone]
    return out


def _keys() -> list[dict[str, Any]]:
    out = []
    for account_id, region, backend in _regions(kms_backends):
        for key in list(backend.keys.values()):
            out.append({
                "account": account_id, "region": region, "id": key.id, "arn": key.arn,
                "material": base64.b64encode(key.key_material).decode(),
                "creationDate": key.creation_date, "description": key.description,
                "keyUsage": key.key_usage, "keySpec": key.key_spec, "policy": key.policy,
                "enabled": key.enabled, "keyState": key.key_state, "origin": key.origin,
                "rotation": key.key_rotation_status, "aliases": sorted(key.aliases),
                "tags": backend.tagger.list_tags_for_resource(key.id).get("Tags", []),
            })
    return out


def _objects() -> list[dict[str, Any]]:
    out = []
    for account_id, partition, backend in _regions(s3_backends):
        for bucket_name, bucket in list(backend.buckets.items()):
            for key in list(bucket.keys.values()):
                if not hasattr(key, "value") or key.value is None:  # a delete marker
                    continue
                out.append({"account": account_id, "partition": partition, "bucket": bucket_name, "key": key.name,
                            "metadata": dict(key.metadata), "body": key.value})
    return out


def _attributes(attributes: dict[str, Any], encode: bool) -> dict[str, Any]:
    out = {}
    for name, attribute in attributes.items():
        attribute = dict(attribute)
        if attribute.get("BinaryValue") is not None:
            value = attribute["BinaryValue"]
            attribute["BinaryValue"] = base64.b64encode(value).decode() if encode else base64.b64decode(value)
        out[name] = attribute
    return out


def _messages() -> list[dict[str, Any]]:
    out = []
    for account_id, region, backend in _regions(sqs_backends):
        for name, queue in list(backend.queues.items()):
            for m in list(queue._messages):
                out.append({
                    "account": account_id, "region": region, "queue": name, "body": m.body,
                    "attributes": _attributes(m.message_attributes, encode=True), "groupId": m.group_id,
                    "deduplicationId": m.deduplication_id, "visibleAt": m.visible_at,
                    "delayedUntil": m.delayed_until, "receiveCount": m.approximate_receive_count,
                    "sentTimestamp": m.sent_timestamp,
                })
    return out


def capture() -> dict[str, Any]:
    """The backends' state as one JSON-ready document (object bodies still as bytes)."""
    return {"format": FORMAT, "takenAt": time.time(), "tables": _tables(), "kmsKeys": _keys(),
            "objects": _objects(), "messages": _messages()}


def make_private(data_dir: Path) -> None:
    """The data directory holds KMS key material and every stored secret: it and every directory
    in it are its owner's only (0700), every file 0600, whatever the umask or an earlier version
    left there (made at the emulator's start; write() keeps it so)."""
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink():
            continue
        with contextlib.suppress(FileNotFoundError):  # a body dropped meanwhile
            path.chmod(PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR)  # mkdir's mode goes through the umask, and an existing one keeps its own


def _write_private(path: Path, data: bytes | list[bytes]) -> None:
    """Write `path` atomically (a temporary file, then a rename), created 0600: the content is
    never readable by others, not even for a moment."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)  # a .tmp left behind by a crash may have had another mode
        out.writelines([data] if isinstance(data, bytes) else data)
    tmp.replace(path)


def write(data_dir: Path, state: dict[str, Any]) -> None:
    """Write `state` atomically: object bodies first (one file per content hash, never
    rewritten), then the document (write and rename), then remove the bodies nothing refers to.
    The directories are 0700 and the files 0600 (make_private)."""
    _private_dir(data_dir)
    objects_dir = data_dir / OBJECTS
    _private_dir(objects_dir)
    doc = dict(state)
    entries = []
    for entry in state["objects"]:
        body: bytes = entry["body"]
        digest = hashlib.sha256(body).hexdigest()
        path = objects_dir / digest
        if not path.exists():
            _write_private(path, body)
        entries.append({k: v for k, v in entry.items() if k != "body"} | {"sha256": digest})
    doc["objects"] = entries
    _write_private(data_dir / SNAPSHOT, _document(doc))
    kept = {e["sha256"] for e in entries}
    for path in objects_dir.iterdir():
        if path.name not in kept and not path.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                path.unlink()


def _document(doc: dict[str, Any]) -> list[bytes]:
    """`doc` as JSON, in pieces: each table's items are their kept JSON, written as they are (a
    big state is neither encoded again nor copied into one string)."""
    def dumped(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    pieces = [dumped({k: v for k, v in doc.items() if k != "tables"})[:-1], b',"tables":[']
    for number, table in enumerate(doc["tables"]):
        pieces += [b"," if number else b"", dumped({k: v for k, v in table.items() if k != "itemsJson"})[:-1],
                   b',"items":[', b",".join(table["itemsJson"]), b"]}"]
    pieces.append(b"]}")
    return pieces


def read(data_dir: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads((data_dir / SNAPSHOT).read_text())
    except FileNotFoundError:
        return None
    if doc.get("format") != FORMAT:
        raise ValueError(f"{data_dir / SNAPSHOT} has format {doc.get('format')}, expected {FORMAT}")
    return doc


# ---- restore ------------------------------------------------------------------------------

def restore_keys(doc: dict[str, Any]) -> int:
    """Put every KMS key back with its id, ARN and material (before provisioning)."""
    restored = 0
    for saved in doc.get("kmsKeys", []):
        backend = kms_backends[saved["account"]][saved["region"]]
        if saved["id"] in backend.keys:
            continue
        key = backend.create_key(saved["policy"], saved["keyUsage"], saved["keySpec"], saved["description"], None,
                                 origin=saved.get("origin") or "AWS_KMS")
        del backend.keys[key.id]
        key.id, key.arn = saved["id"], saved["arn"]
        key.key_material = base64.b64decode(saved["material"])
        key.creation_date = saved["creationDate"]
        key.enabled, key.key_state = saved["enabled"], saved["keyState"]
        key.key_rotation_status = saved["rotation"]
        backend.keys[key.id] = key
        if saved["tags"]:
            backend.tagger.tag_resource(key.id, saved["tags"])
        for alias in saved["aliases"]:
            backend.create_alias(key.id, alias)
        restored += 1
    return restored


@dataclass
class Restored:
    items: int = 0
    objects: int = 0
    messages: int = 0
    skipped: list[str] = field(default_factory=list)  # tables, buckets or queues that no longer exist

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "objects": self.objects, "messages": self.messages, "skipped": self.skipped}


def restore_data(doc: dict[str, Any], data_dir: Path, skip_queues: frozenset[str] = frozenset()) -> Restored:
    """Put every item, object and message back into the tables, buckets and queues provisioning
    made. Items go in with the table's stream detached: a restored task is not a new one (no
    INSERT record). Messages keep their delay, visibility and receive count (a message that was
    being handled when the emulator stopped comes back when its visibility ends, as in SQS);
    `skip_queues` are left empty (the task lanes: their tasks are re-enqueued from the table)."""
    out = Restored()
    for saved in doc.get("tables", []):
        table = dynamodb_backends[saved["account"]][saved["region"]].tables.get(saved["table"])
        if table is None:
            out.skipped.append(saved["table"])
            continue
        shard, table.stream_shard = table.stream_shard, None
        try:
            for attrs in saved["items"]:
                table.put_item(attrs, overwrite=True)
                out.items += 1
        finally:
            table.stream_shard = shard
    for saved in doc.get("objects", []):
        backend = s3_backends[saved["account"]][saved["partition"]]
        if saved["bucket"] not in backend.buckets:
            out.skipped.append(saved["bucket"])
            continue
        body = (data_dir / OBJECTS / saved["sha256"]).read_bytes()
        key = backend.put_object(saved["bucket"], saved["key"], body, disable_notification=True)
        key.set_metadata(saved["metadata"], replace=True)
        out.objects += 1
    for saved in doc.get("messages", []):
        if saved["queue"] in skip_queues:
            continue
        queues = sqs_backends[saved["account"]][saved["region"]]
        if saved["queue"] not in queues.queues:
            out.skipped.append(saved["queue"])
            continue
        message = queues.send_message(
            saved["queue"], saved["body"], _attributes(saved["attributes"], encode=False) or None, delay_seconds=0,
            deduplication_id=saved["deduplicationId"], group_id=saved["groupId"], validate_group_id=False)
        message.visible_at, message.delayed_until = saved["visibleAt"], saved["delayedUntil"]
        message.approximate_receive_count = saved["receiveCount"]
        message.sent_timestamp = saved["sentTimestamp"] or message.sent_timestamp
        out.messages += 1
    return out


class Snapshotter:
    """Writes a snapshot every `period` seconds when something changed, and once more on stop.
    Armed only after the restore (or at once on a fresh start): an empty emulator never
    overwrites the snapshot it is about to restore."""

    def __init__(self, data_dir: Path, lock: SharedExclusiveLock, period: float) -> None:
        self.data_dir, self.lock, self.period = data_dir, lock, period
        make_private(data_dir)
        self._dirty = threading.Event()
        self._armed = threading.Event()
        self._writing = threading.Lock()
        self.last_cost = 0.0  # seconds the latest snapshot held writes back (copying the backends)
        self.last_write = 0.0  # seconds it then took to write (requests go on meanwhile)
        self.writes = 0

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    def changed(self) -> None:
        self._dirty.set()

    def arm(self) -> None:
        self._armed.set()
        self._dirty.set()

    def save(self) -> None:
        if not self._armed.is_set():
            return
        with self._writing:
            self._dirty.clear()
            started = time.perf_counter()
            with self.lock.exclusive():
                state = capture()
            self.last_cost = time.perf_counter() - started
            write(self.data_dir, state)
            self.last_write = time.perf_counter() - started - self.last_cost
            self.writes += 1

    def wait_before_next(self) -> float:
        """The period, or longer when a snapshot costs more than a tenth of it: a big state is
        saved less often rather than slow the emulator down (the loss window grows with it)."""
        return max(self.period, COST_FACTOR * (self.last_cost + self.last_write))

    def run_forever(self) -> None:
        while True:
            time.sleep(self.wait_before_next())
            if self._armed.is_set() and self._dirty.is_set():
                try:
                    self.save()
                except Exception as exc:  # noqa: BLE001 - the next period tries again
                    print(f"[emulator] snapshot failed: {type(exc).__name__}: {exc}", flush=True)
                    self._dirty.set()

    def start(self) -> None:
        threading.Thread(target=self.run_forever, name="snapshot", daemon=True).start()

