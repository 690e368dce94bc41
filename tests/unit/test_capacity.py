"""bench/capacity.py: DynamoDB's documented sizing and unit rules, on the guide's own examples and
on small tables built for one rule each. The tasks table's real items: tests/functional/
test_capacity_items.py (and the emulator's own figures: test_capacity_dynamodb_local.py)."""

from __future__ import annotations

from decimal import Decimal

from bench.capacity import (
    Index,
    Table,
    WriteUnits,
    batch_get_units,
    get_item_units,
    item_size,
    number_size,
    projected,
    query_units,
    read_units_for,
    tasks_table,
    write_units,
    write_units_for,
)
from taskhook.adapters.dynamo.tables import build_task_model

KB = 1024
# One table per rule: key `pk`, a GSI on `g` (ALL) and one on `g` (KEYS_ONLY).
TABLE = Table(name="t", keys=("pk",), indexes=(
    Index("all", ("g", "s")),
    Index("keys", ("g", "s"), projection="KEYS_ONLY"),
    Index("some", ("g", "s"), projection="INCLUDE", include=frozenset({"small"})),
))


def item(size: int, **extra: str) -> dict[str, str]:
    """A plain item of exactly `size` bytes with the attributes `extra` (names and values count)."""
    base = {"pk": "k", **extra}
    fixed = sum(len(k) + len(v) for k, v in base.items()) + len("pad")
    assert size >= fixed
    return {**base, "pad": "x" * (size - fixed)}


# ---- item size: "DynamoDB item sizes and formats" (CapacityUnitCalculations.html) -----------------

def test_string_is_name_plus_utf8_bytes() -> None:
    # "The size of a string is (UTF-8 bytes of attribute name) + (UTF-8 bytes)": "é" is 2 bytes.
    assert item_size({"name": "café"}) == 4 + 5
    assert item_size({"name": {"S": "café"}}) == 9  # DynamoDB JSON: the same size


def test_number_is_one_byte_per_two_significant_digits_plus_one() -> None:
    # "(1 byte per two significant digits) + (1 byte)", "leading and trailing zeroes are trimmed".
    assert number_size("12345") == 3 + 1
    assert number_size("120000000000") == number_size("0.0012") == number_size("12") == 1 + 1
    assert item_size({"n": 12345}) == item_size({"n": {"N": "12345"}}) == 1 + 4
    # The guide's "approximately", as DynamoDB Local measures it (test_capacity_dynamodb_local.py):
    # pairs of digits aligned on the decimal point, one byte more for a negative sign, zero 1 byte.
    assert number_size("1.5") == number_size("123") == 3  # "01" "50" / "01" "23"
    assert number_size("1200000") == 3  # "01" "20" ("00" "00" trimmed)
    assert number_size("-12345") == 5
    assert number_size("0") == 1
    assert item_size({"n": 1.5}) == item_size({"n": Decimal("1.5")}) == 1 + 3


def test_binary_is_raw_bytes_and_null_or_boolean_one_byte() -> None:
    # "the value's raw byte length is used"; "a null attribute or a Boolean attribute ... + (1 byte)".
    assert item_size({"b": b"\x00\x01\x02"}) == 1 + 3
    assert item_size({"flag": True, "none": None}) == (4 + 1) + (4 + 1)


def test_list_and_map_carry_three_bytes_and_one_per_element() -> None:
    # "An attribute of type List or Map requires 3 bytes of overhead ... The size of an empty List
    # or Map is (name) + (3 bytes)"; "Each List or Map element also requires 1 byte of overhead".
    assert item_size({"l": []}) == 1 + 3
    assert item_size({"m": {}}) == 1 + 3
    assert item_size({"l": ["ab", "c"]}) == 1 + 3 + (2 + 1) + (1 + 1)
    assert item_size({"m": {"ab": "c"}}) == 1 + 3 + (2 + 1 + 1)  # a nested name counts too


# ---- units: "DynamoDB read and write operations" (read-write-operations.html) ----------------------

def test_reads_round_up_to_4_kb() -> None:
    # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item."
    assert read_units_for(3500, consistent=True) == read_units_for(4 * KB, consistent=True) == 1
    # "if your item size is 8 KB, you require 2 read units to sustain one strongly consistent read,
    # 1 read unit if you choose eventually consistent reads, or 4 read units for a transactional".
    assert read_units_for(8 * KB, consistent=True) == 2
    assert read_units_for(8 * KB) == 1
    assert read_units_for(8 * KB, transactional=True) == 4
    # GetItem: "If you read an item of 10 KB, DynamoDB rounds the item size to 12 KB."
    assert get_item_units(item(10 * KB), consistent=True) == 3
    assert get_item_units(item(10 * KB)) == 1.5


def test_batch_get_rounds_each_item_but_query_rounds_the_sum() -> None:
    # BatchGetItem: "reads a 1.5 KB item and a 6.5 KB item, DynamoDB calculates the size as 12 KB
    # (4 KB + 8 KB), not 8 KB (1.5 KB + 6.5 KB)."
    pair = [item(1536), item(6656)]
    assert batch_get_units(pair, consistent=True) == 3
    # Query: "the total size of all items returned ... rounded up to the next 4 KB boundary".
    assert query_units(pair, consistent=True) == 2
    assert query_units([item(100)] * 40) == 0.5  # forty 100-byte items: 4,000 bytes, one unit halved
    assert query_units([]) == 0.5  # an empty answer still costs the minimum


def test_writes_round_up_to_1_kb_with_one_unit_minimum() -> None:
    # "One write unit represents one write for an item up to 1 KB"; "Items larger than 1 KB require
    # additional write units": a 1.5 KB item is two units.
    assert write_units_for(500) == 1
    assert write_units_for(KB) == 1
    assert write_units_for(KB + 1) == 2
    assert write_units_for(1536) == 2
    assert write_units_for(0) == 1


def test_update_is_billed_on_the_larger_of_old_and_new_item() -> None:
    # UpdateItem: "the larger of the item's size before and after the update": shrinking a 3 KB
    # item to 100 bytes still costs 3 units, growing it back too.
    table = Table("t", ("pk",))
    big, small = item(3 * KB), item(100)
    assert write_units(table, big, small).table == 3
    assert write_units(table, small, big).table == 3
    assert write_units(table, small, item(200)).table == 1
    assert write_units(table, big, None).table == 3  # DeleteItem: the item deleted


def test_transactional_writes_cost_twice_on_the_table_and_every_index() -> None:
    # "Transactional write requests require 2 write units to perform one write for items up to 1 KB."
    new = item(1500, g="team", s="a")
    plain = write_units(TABLE, None, new)
    assert plain == WriteUnits(table=2, indexes={"all": 2, "keys": 1, "some": 1})
    assert write_units(TABLE, None, new, transactional=True) == WriteUnits(
        table=4, indexes={"all": 4, "keys": 2, "some": 2})


# ---- indexes: "Provisioned throughput considerations for GSIs" (GSI.html) -------------------------

def test_an_index_key_change_is_a_delete_plus_a_put() -> None:
    # "If an update to the table changes the value of an indexed key attribute (from A to B), two
    # writes are required, one to delete the previous item from the index and another write to put
    # the new item into the index."
    old = item(500, g="team#pending", s="a")
    new = item(500, g="team#processing", s="a")
    assert write_units(TABLE, old, new) == WriteUnits(table=1, indexes={"all": 2, "keys": 2, "some": 2})


def test_the_delete_is_sized_by_the_old_entry_and_the_put_by_the_new() -> None:
    old = item(500, g="team#pending", s="a")
    new = item(10 * KB, g="team#done", s="a")
    assert write_units(TABLE, old, new).indexes["all"] == 1 + 10


def test_a_sparse_index_costs_a_put_on_entry_a_delete_on_exit_and_nothing_outside() -> None:
    # "If you ... update an existing item to define a previously undefined indexed attribute, one
    # write operation is required to put the item into the index"; "If ... a write to the table
    # caused the indexed attribute to be deleted, one write is required to delete the old item
    # projection from the index"; "If an item is not present in the index before or after the item
    # is updated, there is no additional write cost for the index."
    outside, inside = item(3 * KB), item(3 * KB, g="due", s="a")
    assert write_units(TABLE, outside, inside).indexes == {"all": 3, "keys": 1, "some": 1}
    assert write_units(TABLE, inside, outside).indexes == {"all": 3, "keys": 1, "some": 1}
    assert write_units(TABLE, outside, item(3 * KB, other="x")).indexes == {}
    assert projected(TABLE, TABLE.indexes[0], outside) is None


def test_a_change_to_an_attribute_an_index_does_not_project_costs_that_index_nothing() -> None:
    # "If an update to the table only changes the value of projected attributes ... one write is
    # required": KEYS_ONLY projects none, INCLUDE only `small`, ALL every attribute.
    old = item(2 * KB, g="team", s="a", small="1")
    new = {**old, "pad": old["pad"].replace("x", "y")}
    assert write_units(TABLE, old, new).indexes == {"all": 2}
    assert write_units(TABLE, old, {**old, "small": "2"}).indexes == {"all": 2, "some": 1}


def test_keys_only_entries_hold_the_index_and_table_keys_only() -> None:
    big = item(20 * KB, g="team", s="a", small="1")
    keys_only = projected(TABLE, TABLE.indexes[1], big)
    assert keys_only == {"pk": {"S": "k"}, "g": {"S": "team"}, "s": {"S": "a"}}
    assert write_units(TABLE, None, big).indexes == {"all": 20, "keys": 1, "some": 1}
    assert query_units([keys_only] * 10) == 0.5
    assert query_units([big] * 10) == 25  # 200 KB of ALL entries: 50 units halved


def test_the_tasks_table_is_template_yamls_and_the_models() -> None:
    """The calculator's tasks table is read from template.yaml; it must be the table PynamoDB
    writes (tables.py), so the units stay true when the indexes change."""
    schema = build_task_model("t", "us-east-1", None)._get_schema()
    order = {"HASH": 0, "RANGE": 1}

    def keys(key_schema: list[dict[str, str]]) -> tuple[str, ...]:
        return tuple(k["AttributeName"] for k in sorted(key_schema, key=lambda k: order[k["KeyType"]]))

    model = {(g["index_name"], keys(g["key_schema"]), g["projection"]["ProjectionType"],
              frozenset(g["projection"].get("NonKeyAttributes", ())))
             for g in schema["global_secondary_indexes"]}
    table = tasks_table()
    assert table.keys == keys(schema["key_schema"]) == ("id",)
    assert {(i.name, i.keys, i.projection, i.include) for i in table.indexes} == model
    assert len(table.indexes) == len(model) >= 1
