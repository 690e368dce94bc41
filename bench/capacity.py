"""DynamoDB capacity units from DynamoDB's documented rules: pure Python, no AWS call.

Sources (Amazon DynamoDB Developer Guide):
- Item size ("DynamoDB item sizes and formats", CapacityUnitCalculations.html): the sum of the
  UTF-8 lengths of the attribute names and the sizes of the values. A string is its UTF-8 bytes; a
  number about (1 byte per two significant digits) + 1 byte (exactly: pairs of digits aligned on
  the decimal point, see `number_size`); a binary its raw bytes; a null or a
  Boolean 1 byte; a List or Map 3 bytes of overhead + its nested elements (a Map's nested names
  included) + 1 byte per element. Sets: the sum of their elements (the guide states no overhead).
- Units ("DynamoDB read and write operations", read-write-operations.html): a write costs one unit
  per 1 KB of the item, rounded up; PutItem and UpdateItem are billed on the larger of the item
  before and after the write, DeleteItem on the item deleted. A strongly consistent read costs one
  unit per 4 KB rounded up, an eventually consistent read half of that, a transactional read or
  write twice. Query: the items returned are summed, then rounded up to 4 KB. BatchGetItem: each
  item is rounded up on its own.
- Indexes ("Provisioned throughput considerations for Global Secondary Indexes", GSI.html): a
  table write also writes every GSI whose entry it changes. Item enters the index (it gains the
  index key attributes): one put. Index key value changes: a delete of the old entry plus a put of
  the new one. Item leaves (a key attribute removed): one delete. Item not in the index before or
  after: nothing. Only projected attributes change: one write. Entries over 1 KB cost a unit per
  1 KB. An entry holds the index key, the table key and the projected attributes (ALL: the whole
  item; KEYS_ONLY: the keys; INCLUDE: the keys and the named attributes).

Items are DynamoDB JSON (``{"id": {"S": "x"}}``, as boto3's client and a stream image give them)
or plain Python values (as boto3's resource layer takes them; floats are taken as Decimals).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

KB = 1024
WRITE_UNIT_BYTES = 1 * KB
READ_UNIT_BYTES = 4 * KB
TASKS_TABLE = "TasksTable"  # template.yaml's logical id of the tasks table
_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

Item = Mapping[str, Any]


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes (hash, then range) and its projection."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    include: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class WriteUnits:
    """The write units one write consumes, on the table and on each index it touches."""

    table: int
    indexes: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.table + sum(self.indexes.values())


# ---- the table's definition, from template.yaml -----------------------------------------------

def _key_names(schema: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
    order = {"HASH": 0, "RANGE": 1}
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: order[k["KeyType"]]))


def _key_properties(template: Mapping[str, Any], logical_id: str) -> Mapping[str, Any]:
    """A table's KeySchema and GlobalSecondaryIndexes, its conditions (`Fn::If`, `AWS::NoValue`: the
    tasks table's staged indexes) resolved with the parameters' defaults."""
    props = template["Resources"][logical_id]["Properties"]
    if "Conditions" not in template:
        return props  # type: ignore[no-any-return]
    from infra.template import Resolver

    def no_resource(logical: str) -> dict[str, str]:
        raise KeyError(logical)

    resolver = Resolver(template, no_resource)
    return {name: resolver.resolve(props[name]) for name in ("KeySchema", "GlobalSecondaryIndexes") if name in props}


def table_from_template(template: Mapping[str, Any], logical_id: str) -> Table:
    """A table's keys and GSIs as an AWS::DynamoDB::Table resource of `template` declares them."""
    props = _key_properties(template, logical_id)
    indexes = tuple(
        Index(name=gsi["IndexName"], keys=_key_names(gsi["KeySchema"]),
              projection=gsi.get("Projection", {}).get("ProjectionType", "ALL"),
              include=frozenset(gsi.get("Projection", {}).get("NonKeyAttributes", ())))
        for gsi in props.get("GlobalSecondaryIndexes", ())
    )
    return Table(name=logical_id, keys=_key_names(props["KeySchema"]), indexes=indexes)


def tasks_table_properties(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The tasks table's Properties in template.yaml, its conditions resolved with the parameters'
    defaults, or `parameters` (e.g. {"TasksIndexStage": "1"}: an upgrade's first stage)."""
    from infra.template import Resolver, load_template

    def no_resource(logical_id: str) -> dict[str, str]:
        raise KeyError(logical_id)

    template = load_template()
    resolver = Resolver(template, no_resource, overrides=dict(parameters or {}))
    props: dict[str, Any] = resolver.resolve(template["Resources"][TASKS_TABLE]["Properties"])
    return props


def tasks_table(parameters: Mapping[str, str] | None = None) -> Table:
    """The tasks table as template.yaml declares it (at the parameters' defaults, or `parameters`)."""
    return table_from_template({"Resources": {TASKS_TABLE: {"Properties": tasks_table_properties(parameters)}}},
                               TASKS_TABLE)


# ---- item size ----------------------------------------------------------------------------------

def _is_typed(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _TYPES


def to_dynamodb_json(item: Item) -> dict[str, dict[str, Any]]:
    """`item` in DynamoDB JSON: as it is when every value is already typed, else serialized."""
    if all(_is_typed(v) for v in item.values()):
        return {k: dict(v) for k, v in item.items()}
    serializer = TypeSerializer()
    return {k: serializer.serialize(_decimals(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(text: str | int | Decimal) -> int:
    """About (1 byte per two significant digits) + 1 byte, leading and trailing zeros trimmed (the
    guide). Exactly, as DynamoDB Local measures it: the digits are stored in pairs aligned on the
    decimal point (base 100), so 1.5 takes two pairs ("01" "50") and 1200000 two ("1" "20"), plus
    one byte, plus one more for a negative number's sign; zero is one byte."""
    value = Decimal(str(text))
    sign, digits, exponent = value.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant.strip("0"):
        return 1
    assert isinstance(exponent, int)
    exponent += len(digits) - len(significant)  # the trailing zeros trimmed
    significant = significant.lstrip("0")
    highest, lowest = exponent + len(significant) - 1, exponent  # powers of ten of the end digits
    return highest // 2 - lowest // 2 + 1 + 1 + sign


def _binary_length(value: Any) -> int:
    raw = getattr(value, "value", value)  # boto3's Binary wraps the bytes
    return len(raw) if isinstance(raw, bytes | bytearray) else _utf8(str(raw))


def value_size(typed: Mapping[str, Any]) -> int:
    """The size of one DynamoDB JSON value, without its attribute name."""
    (kind, value), = typed.items()
    if kind == "S":
        return _utf8(value)
    if kind == "N":
        return number_size(value)
    if kind == "B":
        return _binary_length(value)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in value)
    if kind == "NS":
        return sum(number_size(v) for v in value)
    if kind == "BS":
        return sum(_binary_length(v) for v in value)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in value)
    if kind == "M":
        return 3 + sum(_utf8(k) + value_size(v) + 1 for k, v in value.items())
    raise ValueError(f"not a DynamoDB type: {kind}")


def item_size(item: Item) -> int:
    """The item's size in bytes: attribute names plus values."""
    return sum(_utf8(name) + value_size(value) for name, value in to_dynamodb_json(item).items())


# ---- units ----------------------------------------------------------------------------------------

def write_units_for(size: int) -> int:
    """Write units for an item of `size` bytes: 1 KB each, rounded up; a write costs at least one."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units_for(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Read units for `size` bytes read at once: 4 KB each, rounded up (at least one); half of
    that eventually consistent, twice that transactional."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def get_item_units(item: Item | None, consistent: bool = False) -> float:
    """GetItem: the item's size rounded up to 4 KB (an item not found still costs the minimum)."""
    return read_units_for(item_size(item) if item else 0, consistent)


def batch_get_units(items: Iterable[Item], consistent: bool = False) -> float:
    """BatchGetItem: each item rounded up to 4 KB on its own, then added."""
    return sum(get_item_units(item, consistent) for item in items)


def query_units(items: Iterable[Item], consistent: bool = False) -> float:
    """Query (or Scan): the sizes of the items read summed, then rounded up to 4 KB. For an index
    query pass the index entries (`projected`), not the table items."""
    return read_units_for(sum(item_size(item) for item in items), consistent)


def projected(table: Table, index: Index, item: Item) -> dict[str, dict[str, Any]] | None:
    """The index entry of `item` (None: the item lacks an index key attribute, so the sparse
    index does not hold it)."""
    typed = to_dynamodb_json(item)
    if any(key not in typed for key in index.keys):
        return None
    if index.projection == "ALL":
        return typed
    kept = set(table.keys) | set(index.keys)
    if index.projection == "INCLUDE":
        kept |= index.include
    elif index.projection != "KEYS_ONLY":
        raise ValueError(f"unknown projection {index.projection}")
    return {name: value for name, value in typed.items() if name in kept}


def index_write_units(table: Table, index: Index, old: Item | None, new: Item | None) -> int:
    """The write units a table write from `old` to `new` (None: absent) costs on `index`."""
    before = projected(table, index, old) if old is not None else None
    after = projected(table, index, new) if new is not None else None
    if before is None and after is None:
        return 0
    if before is None:
        return write_units_for(item_size(after or {}))  # enters the index: a put
    if after is None:
        return write_units_for(item_size(before))  # leaves the index: a delete
    if any(before[key] != after[key] for key in index.keys):  # key change: delete + put
        return write_units_for(item_size(before)) + write_units_for(item_size(after))
    if before == after:
        return 0  # nothing the index holds changed
    # Projected attributes changed in place: one write, billed like an UpdateItem on the larger
    # of the two entries (the guide states one write and a unit per 1 KB of the entry).
    return write_units_for(max(item_size(before), item_size(after)))


def write_units(table: Table, old: Item | None, new: Item | None, transactional: bool = False) -> WriteUnits:
    """One PutItem / UpdateItem (old and new item) or DeleteItem (new None), per table and index.
    The table is billed on the larger of the item before and after; a transactional write
    (TransactWriteItems) costs twice, on the table and on every index."""
    size = max(item_size(old) if old is not None else 0, item_size(new) if new is not None else 0)
    factor = 2 if transactional else 1
    indexes = {index.name: factor * index_write_units(table, index, old, new) for index in table.indexes}
    return WriteUnits(table=factor * write_units_for(size), indexes={k: v for k, v in indexes.items() if v})
