"""bench/units.py: the bench's accounting of the units DynamoDB bills, per table and per index, for
known write and read sequences (the rules themselves: test_capacity.py), and bench/cost.py's
pricing of them (on demand, provisioned, the API type the template deploys)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cost
from bench.capacity import Index, Table
from bench.units import (
    Layout,
    call_units,
    change_of,
    hide_injected,
    injected_params,
    layout_from_env,
    stream_units,
)

KB = 1024
# A table with an ALL index on status (like byTeamStatus) and a sparse KEYS_ONLY one on `due`.
TABLE = Table(name="Jobs", keys=("id",), indexes=(
    Index("byStatus", ("teamStatus", "createdAt")),
    Index("due", ("dueShard", "dueAt"), projection="KEYS_ONLY"),
))
LAYOUT = Layout({"jobs-physical": TABLE, "plain-physical": Table(name="Plain", keys=("k",))},
                frozenset({"jobs-physical"}))


def s(value: str) -> dict[str, str]:
    return {"S": value}


def job(status: str, pad: int = 0, due: bool = False) -> dict[str, Any]:
    item = {"id": s("j1"), "teamStatus": s(f"t#{status}"), "createdAt": s("2026-12-01"), "status": s(status)}
    if due:
        item |= {"dueShard": s("0"), "dueAt": s("2026-12-02")}
    if pad:
        item["pad"] = s("x" * pad)
    return item


def record(event: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"Keys": {"id": (new or old or {})["id"]}}
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    return {"eventName": event, "dynamodb": data}


# ---- writes from the stream ---------------------------------------------------------------------------

def test_a_known_write_sequence_costs_known_units_per_table_and_index() -> None:
    created = job("delayed", due=True)  # small; enters both indexes
    claimed = job("processing", pad=1500)  # a status change: byStatus key moves; leaves `due`
    progressed = {**claimed, "progress": {"N": "50"}}  # same keys: byStatus in place
    records = [record("INSERT", None, created), record("MODIFY", created, claimed),
               record("MODIFY", claimed, progressed), record("REMOVE", progressed, None)]

    priced = stream_units(TABLE, records)

    units = priced.ledger.units
    # table: 1 (create) + 2 (claim, billed on the larger 1.5 KB image) + 2 + 2 (the delete of a 1.5 KB item)
    assert units["Jobs||write"] == 1 + 2 + 2 + 2
    # byStatus (ALL): put 1; key change = delete of the old 1-unit entry + put of the 2-unit one; in place 2;
    # the delete 2.
    assert units["Jobs|byStatus|write"] == 1 + (1 + 2) + 2 + 2
    # due (KEYS_ONLY, sparse): the create puts it; the claim removes it (leaves); then nothing.
    assert units["Jobs|due|write"] == 1 + 1
    assert priced.records == 4
    claim = priced.changes["delayed → processing"]
    assert (claim["count"], claim["table"], claim["indexes"]) == (1, 2, {"byStatus": 3, "due": 1})
    assert set(priced.changes) == {"create (delayed)", "delayed → processing", "processing, same status",
                                   "delete (processing)"}


def test_the_stream_keeps_only_the_records_of_the_given_keys() -> None:
    mine, other = job("pending"), {**job("pending"), "id": s("j2")}
    priced = stream_units(TABLE, [record("INSERT", None, mine), record("INSERT", None, other)], {"j1"})
    assert priced.records == 1 and priced.ledger.units["Jobs||write"] == 1


def test_change_names() -> None:
    assert change_of(record("INSERT", None, job("pending"))) == "create (pending)"
    assert change_of(record("MODIFY", job("processing"), job("completed"))) == "processing → completed"


# ---- writes priced in the calling process -----------------------------------------------------------------

def test_a_streamed_tables_successful_write_is_left_to_the_stream() -> None:
    ledger = call_units(LAYOUT, "PutItem", {"TableName": "jobs-physical", "Item": job("pending")}, {})
    assert dict(ledger.units) == {} and dict(ledger.notes) == {"Jobs|PutItem|priced from the stream": 1}


def test_a_put_replacing_a_larger_item_is_billed_on_the_larger() -> None:
    old, new = {"k": s("a"), "v": s("x" * 2000)}, {"k": s("a")}
    params = {"TableName": "plain-physical", "Item": new, **injected_params("PutItem", {})}
    ledger = call_units(LAYOUT, "PutItem", params, {"Attributes": old})
    assert dict(ledger.units) == {"Plain||write": 2}


def test_a_delete_is_billed_on_the_item_deleted_and_an_update_on_the_item_after() -> None:
    big = {"k": s("a"), "v": s("x" * 3000)}
    delete = call_units(LAYOUT, "DeleteItem", {"TableName": "plain-physical", "Key": {"k": s("a")},
                                               "ReturnValues": "ALL_OLD"}, {"Attributes": big})
    update = call_units(LAYOUT, "UpdateItem", {"TableName": "plain-physical", "Key": {"k": s("a")},
                                               "ReturnValues": "ALL_NEW"}, {"Attributes": big})
    assert delete.units["Plain||write"] == 3 and update.units["Plain||write"] == 3


def test_a_failed_condition_costs_the_item_it_found_on_the_table_only() -> None:
    found = job("completed", pad=2500)
    error = {"Error": {"Code": "ConditionalCheckFailedException"}, "Item": found}
    ledger = call_units(LAYOUT, "UpdateItem", {"TableName": "jobs-physical", "Key": {"id": s("j1")}}, None, error)
    assert dict(ledger.units) == {"Jobs||write": 3}
    throttled = call_units(LAYOUT, "UpdateItem", {"TableName": "jobs-physical", "Key": {"id": s("j1")}}, None,
                           {"Error": {"Code": "ProvisionedThroughputExceededException"}})
    assert dict(throttled.units) == {}


def test_a_transaction_costs_twice_on_the_table_and_every_index() -> None:
    item = job("pending", pad=1500, due=True)  # 2 units; in both indexes (due: keys only, 1 unit)
    plain = call_units(LAYOUT, "BatchWriteItem", {"RequestItems": {"jobs-physical": [{"PutRequest": {"Item": item}}]}},
                       {})
    doubled = call_units(LAYOUT, "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "jobs-physical", "Item": item}},
        {"Update": {"TableName": "plain-physical", "Key": {"k": s("counter")}}}]}, {})
    assert dict(plain.units) == {"Jobs||write": 2, "Jobs|byStatus|write": 2, "Jobs|due|write": 1}
    assert dict(doubled.units) == {"Jobs||write": 4, "Jobs|byStatus|write": 4, "Jobs|due|write": 2,
                                   "Plain||write": 2}


# ---- reads -----------------------------------------------------------------------------------------------

def test_reads_eventually_consistent_are_half_of_strong() -> None:
    item = {"k": s("a"), "v": s("x" * (5 * KB))}  # 5 KB: two 4 KB read units
    for consistent, units in ((False, 1.0), (True, 2.0)):
        ledger = call_units(LAYOUT, "GetItem", {"TableName": "plain-physical", "Key": {"k": s("a")},
                                                "ConsistentRead": consistent}, {"Item": item})
        assert dict(ledger.units) == {"Plain||read": units}
    missing = call_units(LAYOUT, "GetItem", {"TableName": "plain-physical", "Key": {"k": s("b")}}, {})
    assert dict(missing.units) == {"Plain||read": 0.5}  # an item not found still costs the minimum


def test_a_batch_get_rounds_each_item_and_a_query_the_sum() -> None:
    small = {"k": s("a"), "v": s("x" * 100)}
    batch = call_units(LAYOUT, "BatchGetItem", {"RequestItems": {"plain-physical": {"Keys": []}}},
                       {"Responses": {"plain-physical": [small] * 3}})
    query = call_units(LAYOUT, "Query", {"TableName": "jobs-physical", "IndexName": "byStatus"},
                       {"Items": [small] * 3})
    assert dict(batch.units) == {"Plain||read": 3 * 0.5}
    assert dict(query.units) == {"Jobs|byStatus|read": 0.5}
    counted = call_units(LAYOUT, "Query", {"TableName": "jobs-physical", "Select": "COUNT"}, {"Count": 3})
    assert dict(counted.notes) == {"Jobs|Query|projected read": 1}  # a lower bound, said so


def test_a_transactional_read_costs_twice_a_strong_one() -> None:
    ledger = call_units(LAYOUT, "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "plain-physical"}}]},
                        {"Responses": [{"Item": {"k": s("a")}}]})
    assert dict(ledger.units) == {"Plain||read": 2.0}


# ---- what the call log asks for, and hides --------------------------------------------------------------

def test_the_caller_never_sees_what_the_call_log_asked_for() -> None:
    on_failure = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    assert injected_params("PutItem", {}) == {"ReturnValues": "ALL_OLD", **on_failure}
    assert injected_params("UpdateItem", {"ReturnValues": "ALL_NEW"}) == on_failure
    assert injected_params("UpdateItem", {"ReturnValues": "UPDATED_NEW",
                                          "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}) == {}
    answer = {"Attributes": {"k": s("a")}, "Item": {"k": s("a")}, "ConsumedCapacity": {}}
    hide_injected(injected_params("PutItem", {}), answer)
    assert answer == {"ConsumedCapacity": {}}
    kept = {"Attributes": {"k": s("a")}}
    hide_injected(injected_params("UpdateItem", {"ReturnValues": "ALL_NEW"}), kept)
    assert kept == {"Attributes": {"k": s("a")}}


def test_the_layout_maps_physical_names_through_the_functions_environment() -> None:
    template = {
        "Globals": {"Function": {"Environment": {"Variables": {"JOBS": {"Ref": "JobsTable"}, "OTHER": "x"}}}},
        "Parameters": {"Prefix": {"Default": "app"}},
        "Resources": {"JobsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": {"Fn::Sub": "${Prefix}-jobs"},
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                        "Projection": {"ProjectionType": "KEYS_ONLY"}}]}}}}
    layout = layout_from_env(template, {"JOBS": "prefix-jobs"})
    assert layout.table("prefix-jobs").indexes == (Index("g", ("a",), "KEYS_ONLY"),)
    assert "prefix-jobs" in layout.streamed
    assert layout.table("unknown").name == "unknown"
    # A process without the functions' environment (the local supervisor, the CLI): the template's
    # name with the stack's prefix.
    assert layout_from_env(template, {}, "bench1").table("bench1-jobs").name == "JobsTable"
    assert layout_from_env(template, {}).table("app-jobs").name == "JobsTable"


# ---- cost -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "kind"), [
    ({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"E": {"Type": "Api"}}}}}},
     "rest"),
    ({"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"E": {"Type": "HttpApi"}}}}}},
     "http"),
    ({"Resources": {"A": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET"}},
                    "R": {"Type": "AWS::ApiGateway::RestApi"}}}, "rest"),
    ({"Resources": {"A": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}}}}, "http"),
    ({"Resources": {"A": {"Type": "AWS::Serverless::HttpApi"}}}, "http"),
])
def test_the_api_is_priced_as_the_template_deploys_it(template: dict[str, Any], kind: str) -> None:
    assert cost.deployed_api(template) == kind


def test_units_are_priced_on_demand_and_provisioned() -> None:
    calls = {"calls": {"api|dynamodb|PutItem": 10, "api|dynamodb|GetItem": 10},
             "invocations": {"api": {"count": 10, "records": 10, "seconds": 1.0}},
             "dynamoUnits": {"api|Plain||read": 5.0},  # 0.5 RCU per task
             "dynamoNotes": {}}
    stream = {"units": {"Jobs||write": 30, "Jobs|byStatus|write": 40}, "records": 20, "changes": {}, "largest": {}}

    priced = cost.per_task(calls, 10, stream, {"api": 0.5, "runner": 0.5})

    assert priced["dynamodb"]["writeUnitsPerTask"] == 7 and priced["dynamodb"]["readUnitsPerTask"] == 0.5
    assert priced["dynamodb"]["byTable"]["Jobs"]["byStatus"] == {"write": 4, "read": 0}
    assert priced["cost"]["dynamodb.writeRequestUnit"]["usdPerMillionTasks"] == pytest.approx(7 * 0.625)
    # Provisioned at 70 %: $0.00065 per WCU-hour buys 3600 x 0.7 write units.
    assert priced["provisionedDynamodb"]["dynamodb.writeRequestUnit"]["usdPerMillionTasks"] == pytest.approx(
        7 * 1e6 * 0.00065 / 2520, abs=1e-4)
    assert priced["usdPerMillionTasksProvisioned"] < priced["usdPerMillionTasks"]
    # Lambda: 0.1 s CPU per task on a whole core, stretched by the vCPU share template.yaml's 512 MB buys
    # (512 / 1769), + 2 DynamoDB calls x 5 ms; not the 0.1 s wall time per invocation.
    assert cost.memory_gb() == 0.5
    assert priced["lambdaDuration"]["vcpuShare"] == pytest.approx(512 / 1769, abs=1e-4)
    assert priced["lambdaDuration"]["estimateSecondsPerTask"] == pytest.approx(0.1 * 1769 / 512 + 0.01, abs=1e-4)
    assert priced["cost"]["lambda.arm64.gbSecond"]["perTask"] == pytest.approx((0.1 * 1769 / 512 + 0.01) * 0.5,
                                                                                abs=1e-4)
