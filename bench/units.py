"""The DynamoDB capacity units the stack's calls consume, per table and per index, from the items
they read and wrote (bench/capacity.py holds DynamoDB's rules; this module applies them to calls).

Two sources, chosen per table from template.yaml:
- A table whose stream carries NEW_AND_OLD_IMAGES (the tasks table): every successful write is
  priced from its stream record, old and new image, exactly (`stream_units`): the table on the
  larger image, every index the write touches with its projected entry, a key change as a delete
  plus a put. The harness reads the stream after a run and keeps the records of the run's tasks.
- Every other table, and every read and every failed conditional write on any table: priced in
  the process that made the call (`call_units`, run by infra/aws_calls.py), from the request and
  the answer. The call log asks DynamoDB for what it needs and hides it from the caller again:
  `ReturnValues=ALL_OLD` on a PutItem / DeleteItem (the item it replaced or deleted),
  `ReturnValues=ALL_NEW` on an UpdateItem, `ReturnValuesOnConditionCheckFailure=ALL_OLD` (the
  item a failed condition kept). Where the caller asked for something else itself, its answer is
  used as it is.

Assumptions, stated in the report (`ASSUMPTIONS`):
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .capacity import (
    Table,
    item_size,
    projected,
    read_units_for,
    table_from_template,
    write_units,
    write_units_for,
)

ASSUMPTIONS = [
    "An UpdateItem on a table without a NEW_AND_OLD_IMAGES stream is priced on the item after the "
    "write (DynamoDB bills the larger of before and after; the before image would cost another read), "
    "and on each index holding the item: a move (delete + put) when the update names the index's key, "
    "one write when it names a projected attribute. The largest item seen per table is listed: under "
    "1 KB the before size cannot change the bill.",
    "An UpdateItem whose caller asked for UPDATED_OLD / UPDATED_NEW (the rate limiter's token bucket) "
    "is priced on the attributes returned plus its key: a lower bound, exact for items under 1 KB.",
    "A read with a ProjectionExpression, a FilterExpression or Select=COUNT is billed by DynamoDB on "
    "the whole items it read; the bench prices what came back (a lower bound) and counts such reads "
    "apart ('projected reads').",
    "A failed conditional write costs the units of the item it found (1 when none), on the table "
    "only: nothing reaches an index.",
    "BatchWriteItem puts are priced as new items (an item they replace is not read back); "
    "transactional writes (TransactWriteItems) cost twice, every item, on the table and its indexes; "
    "an Update or ConditionCheck inside a transaction is priced at its key's size (1 unit, doubled).",
    "Streams: a write that changes nothing emits no record on AWS (moto may emit one: it is priced "
    "like the UpdateItem it was, table only). A transaction on a stream table would be counted once: "
    "the stack runs none (the Token Vault's transactions are on the vault table, which has no stream).",
]
__doc__ = (__doc__ or "") + "".join(f"- {line}\n" for line in ASSUMPTIONS)

WRITE, READ = "write", "read"
TABLE_ENTRY = ""  # the index name under which a table's own units are kept
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class Layout:
    """The tables of template.yaml by physical name, and which of them stream both images."""

    tables: dict[str, Table]
    streamed: frozenset[str] = frozenset()

    def table(self, physical: str) -> Table:
        return self.tables.get(physical) or Table(name=physical, keys=())

    def logical(self, physical: str) -> str:
        table = self.tables.get(physical)
        return table.name if table else physical


def template_tables(template: Mapping[str, Any]) -> dict[str, Table]:
    """Every AWS::DynamoDB::Table of the template, by logical id."""
    return {logical: table_from_template(template, logical)
            for logical, resource in template.get("Resources", {}).items()
            if resource.get("Type") == "AWS::DynamoDB::Table"}


def streamed_tables(template: Mapping[str, Any]) -> set[str]:
    """The logical ids of the tables whose stream carries both images."""
    return {logical for logical, resource in template.get("Resources", {}).items()
            if resource.get("Type") == "AWS::DynamoDB::Table"
            and resource.get("Properties", {}).get("StreamSpecification", {}).get("StreamViewType") == STREAM_VIEW}


def layout_from_env(template: Mapping[str, Any], environ: Mapping[str, str], prefix: str | None = None) -> Layout:
    """Physical table names from the functions' environment: every Globals variable that is a
    `!Ref` to a table (TASKS_TABLE: !Ref TasksTable) names that table's physical name; a process
    without those variables (the local supervisor, the CLI) knows them by the template's
    `TableName: !Sub "${Prefix}-..."` with the stack's `prefix` (default: the template's)."""
    tables = template_tables(template)
    streamed = streamed_tables(template)
    default = template.get("Parameters", {}).get("Prefix", {}).get("Default", "")
    names: dict[str, str] = {}
    for logical, resource in template.get("Resources", {}).items():
        sub = (resource.get("Properties") or {}).get("TableName")
        if logical in tables and isinstance(sub, Mapping) and isinstance(sub.get("Fn::Sub"), str):
            names[sub["Fn::Sub"].replace("${Prefix}", prefix or default)] = logical
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for variable, value in variables.items():
        logical = value.get("Ref") if isinstance(value, Mapping) else None
        if logical in tables and environ.get(variable):
            names[environ[variable]] = logical
    return Layout({physical: tables[logical] for physical, logical in names.items()},
                  frozenset(physical for physical, logical in names.items() if logical in streamed))


# ---- a ledger: units per (table, index, read/write) ------------------------------------------------

@dataclass
class Ledger:
    """Units by "table|index|write" ("" index: the table itself), and notes by "table|operation|note"."""

    units: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    notes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    largest: dict[str, int] = field(default_factory=dict)  # table -> largest item priced, bytes

    def add(self, table: str, index: str, kind: str, units: float) -> None:
        if units:
            self.units[f"{table}|{index}|{kind}"] += units

    def note(self, table: str, operation: str, note: str) -> None:
        self.notes[f"{table}|{operation}|{note}"] += 1

    def saw(self, table: str, size: int) -> None:
        self.largest[table] = max(self.largest.get(table, 0), size)

    def add_write(self, table: Table, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                  transactional: bool = False) -> None:
        units = write_units(table, old, new, transactional)
        self.add(table.name, TABLE_ENTRY, WRITE, units.table)
        for index, amount in units.indexes.items():
            self.add(table.name, index, WRITE, amount)
        self.saw(table.name, max(item_size(old) if old else 0, item_size(new) if new else 0))

    def as_dict(self) -> dict[str, Any]:
        return {"units": dict(self.units), "notes": dict(self.notes), "largest": dict(self.largest)}


# ---- one call ------------------------------------------------------------------------------------

SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def injected_params(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What the call log adds to a call so that its units can be priced (the caller never sees
    the extra answer: `hide_injected` removes it)."""
    extra: dict[str, Any] = {}
    if operation in SINGLE_WRITES:
        if params.get("ReturnValues", "NONE") == "NONE":
            extra["ReturnValues"] = "ALL_NEW" if operation == "UpdateItem" else "ALL_OLD"
        if "ReturnValuesOnConditionCheckFailure" not in params:
            extra["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return extra


def hide_injected(extra: Mapping[str, Any], answer: dict[str, Any]) -> None:
    """Remove from an answer (or an error's response) what only `injected_params` asked for."""
    if "ReturnValues" in extra:
        answer.pop("Attributes", None)
    if "ReturnValuesOnConditionCheckFailure" in extra:
        answer.pop("Item", None)


def _consistent(params: Mapping[str, Any]) -> bool:
    return bool(params.get("ConsistentRead", False))


def _narrowed(params: Mapping[str, Any]) -> bool:
    return bool(params.get("ProjectionExpression") or params.get("AttributesToGet")
                or params.get("FilterExpression") or params.get("Select") == "COUNT")


def call_units(layout: Layout, operation: str, params: Mapping[str, Any], answer: Mapping[str, Any] | None,
               error: Mapping[str, Any] | None = None) -> Ledger:
    """The units one DynamoDB call consumed. `answer` is the successful answer, `error` the error
    response of a failed one (the call log passes both as botocore parsed them)."""
    ledger = Ledger()
    if operation in SINGLE_WRITES:
        _single_write(ledger, layout, operation, params, answer, error)
    elif operation == "GetItem" and answer is not None:
        table = layout.table(params["TableName"])
        item = answer.get("Item")
        size = item_size(item) if item else 0
        ledger.saw(table.name, size)
        ledger.add(table.name, TABLE_ENTRY, READ, read_units_for(size, _consistent(params)))
        if _narrowed(params):
            ledger.note(table.name, operation, "projected read")
    elif operation == "BatchGetItem" and answer is not None:
        for physical, items in answer.get("Responses", {}).items():
            table = layout.table(physical)
            request = params.get("RequestItems", {}).get(physical, {})
            for item in items:
                ledger.saw(table.name, item_size(item))
                ledger.add(table.name, TABLE_ENTRY, READ, read_units_for(item_size(item), _consistent(request)))
            if _narrowed(request):
                ledger.note(table.name, operation, "projected read")
    elif operation in ("Query", "Scan") and answer is not None:
        table = layout.table(params["TableName"])
        items = answer.get("Items", [])
        size = sum(item_size(item) for item in items)
        ledger.add(table.name, params.get("IndexName", TABLE_ENTRY), READ, read_units_for(size, _consistent(params)))
        if _narrowed(params):
            ledger.note(table.name, operation, "projected read")
    elif operation == "TransactGetItems" and answer is not None:
        for request, response in zip(params.get("TransactItems", []), answer.get("Responses", []), strict=False):
            table = layout.table(request["Get"]["TableName"])
            item = response.get("Item")
            size = item_size(item) if item else 0
            ledger.add(table.name, TABLE_ENTRY, READ, read_units_for(size, transactional=True))
    elif operation == "BatchWriteItem" and answer is not None:
        for physical, requests in params.get("RequestItems", {}).items():
            table = layout.table(physical)
            for request in requests:
                if "PutRequest" in request:
                    ledger.add_write(table, None, request["PutRequest"]["Item"])
                else:
                    ledger.add_write(table, request["DeleteRequest"]["Key"], None)
                    ledger.note(table.name, operation, "delete priced at its key")
    elif operation == "TransactWriteItems":
        for request in params.get("TransactItems", []):
            (kind, body), = request.items()
            table = layout.table(body["TableName"])
            if kind == "Put":
                ledger.add_write(table, None, body["Item"], transactional=True)
            else:  # Update, Delete, ConditionCheck: the item is not in the request
                ledger.add(table.name, TABLE_ENTRY, WRITE, 2 * write_units_for(item_size(body["Key"])))
                ledger.note(table.name, operation, f"{kind} priced at its key")
    return ledger


def _single_write(ledger: Ledger, layout: Layout, operation: str, params: Mapping[str, Any],
                  answer: Mapping[str, Any] | None, error: Mapping[str, Any] | None) -> None:
    table = layout.table(params["TableName"])
    physical = params["TableName"]
    if error is not None:
        if error.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            return  # throttled, invalid: not billed
        found = error.get("Item")
        size = item_size(found) if found else 0
        ledger.saw(table.name, size)
        ledger.add(table.name, TABLE_ENTRY, WRITE, write_units_for(size))
        ledger.note(table.name, operation, "failed condition")
        return
    if answer is None:
        return
    if physical in layout.streamed:
        ledger.note(table.name, operation, "priced from the stream")
        return
    returned = answer.get("Attributes")
    asked = params.get("ReturnValues", "NONE")
    if operation == "PutItem":
        ledger.add_write(table, returned if asked == "ALL_OLD" else None, params["Item"])
    elif operation == "DeleteItem":
        ledger.add_write(table, returned if asked == "ALL_OLD" else params["Key"], None)
    elif asked == "ALL_NEW" and returned:
        _update_after(ledger, table, params, returned)
        ledger.note(table.name, operation, "priced after the write")
    else:  # the caller's own UPDATED_* / ALL_OLD answer: its attributes and the key
        partial = {**params["Key"], **(returned or {})}
        ledger.add_write(table, partial, partial)
        ledger.note(table.name, operation, "priced on the returned attributes")


_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "if_not_exists", "list_append"})


def touched_attributes(params: Mapping[str, Any]) -> set[str]:
    """The top-level attributes an UpdateItem's expression names (placeholders resolved)."""
    names = params.get("ExpressionAttributeNames", {})
    expression = str(params.get("UpdateExpression", ""))
    found = set()
    for token in re.findall(r"[#:]?[A-Za-z_][A-Za-z0-9_]*", expression):
        if token.startswith(":") or token in _KEYWORDS:
            continue
        found.add(names.get(token, token))
    return found


def _update_after(ledger: Ledger, table: Table, params: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """An UpdateItem priced on the item after it (the before image is unknown): the table on the
    new item; an index holding the item, when the update names its key (a move: delete + put, the
    old entry taken as the new one's size) or a projected attribute (one write of the entry)."""
    touched = touched_attributes(params)
    size = item_size(new)
    ledger.saw(table.name, size)
    ledger.add(table.name, TABLE_ENTRY, WRITE, write_units_for(size))
    for index in table.indexes:
        entry = projected(table, index, new)
        if entry is None:
            continue
        units = write_units_for(item_size(entry))
        if touched & set(index.keys):
            ledger.add(table.name, index.name, WRITE, 2 * units)
        elif touched & set(entry):
            ledger.add(table.name, index.name, WRITE, units)


# ---- the stream -------------------------------------------------------------------------------------

def change_of(record: Mapping[str, Any]) -> str:
    """A stream record's change, named by the statuses it moved between (create, pending→processing...)."""
    data = record["dynamodb"]
    old, new = data.get("OldImage"), data.get("NewImage")

    def status(image: Mapping[str, Any] | None) -> str:
        return str(image.get("status", {}).get("S", "?")) if image else "?"

    if record.get("eventName") == "INSERT" or old is None:
        return f"create ({status(new)})"
    if record.get("eventName") == "REMOVE" or new is None:
        return f"delete ({status(old)})"
    before, after = status(old), status(new)
    return f"{before} → {after}" if before != after else f"{after}, same status"


@dataclass
class StreamUnits:
    """The write units of stream records, per table and index and per change."""

    ledger: Ledger = field(default_factory=Ledger)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: int = 0

    def add(self, table: Table, record: Mapping[str, Any]) -> None:
        data = record["dynamodb"]
        old, new = data.get("OldImage"), data.get("NewImage")
        units = write_units(table, old, new)
        self.ledger.add_write(table, old, new)
        change = self.changes.setdefault(change_of(record), {"count": 0, "table": 0, "indexes": {},
                                                             "itemBytesMax": 0})
        change["count"] += 1
        change["table"] += units.table
        for index, amount in units.indexes.items():
            change["indexes"][index] = change["indexes"].get(index, 0) + amount
        change["itemBytesMax"] = max(change["itemBytesMax"], item_size(new) if new else item_size(old or {}))
        self.records += 1

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, **self.ledger.as_dict(), "changes": self.changes}


def stream_units(table: Table, records: Iterable[Mapping[str, Any]], keys: set[str] | None = None,
                 key_attribute: str | None = None) -> StreamUnits:
    """Price stream records (NEW_AND_OLD_IMAGES) of `table`; with `keys`, only the records whose
    hash key (`key_attribute`, default the table's) is one of them."""
    attribute = key_attribute or table.keys[0]
    result = StreamUnits()
    for record in records:
        data = record["dynamodb"]
        if keys is not None:
            key = data.get("Keys", {}).get(attribute, {})
            if next(iter(key.values()), None) not in keys:
                continue
        result.add(table, record)
    return result


def read_stream(client: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record the stream holds now, from every shard (TRIM_HORIZON), oldest first."""
    records: list[dict[str, Any]] = []
    shards: list[dict[str, Any]] = []
    start: str | None = None
    while True:
        kwargs: dict[str, Any] = {"StreamArn": stream_arn}
        if start:
            kwargs["ExclusiveStartShardId"] = start
        described = client.describe_stream(**kwargs)["StreamDescription"]
        shards += described.get("Shards", [])
        start = described.get("LastEvaluatedShardId")
        if not start:
            break
    for shard in shards:
        iterator = client.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON").get("ShardIterator")
        while iterator:
            answer = client.get_records(ShardIterator=iterator, Limit=100)  # 64 KB images: keep answers small
            records += answer.get("Records", [])
            if not answer.get("Records"):
                break  # caught up (an open shard never ends its iterator)
            iterator = answer.get("NextShardIterator")
    return records
