"""infra/template.py's Resolver evaluates Conditions and Fn::If, and drops `!Ref AWS::NoValue`, as
CloudFormation does: the local stack provisions the tasks table's indexes of the stage the
parameters name (TasksIndexStage), and every reader of template.yaml sees the same table."""

from __future__ import annotations

from typing import Any

import pytest

from infra.template import Resolver, load_template

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Prefix": {"Default": "t"}, "Stage": {"Default": "3"}, "Name": {"Default": ""}},
    "Conditions": {
        "Early": {"Fn::Equals": [{"Ref": "Stage"}, "1"]},
        "NotLast": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, "3"]}]},
        "Named": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Name"}, ""]}]},
        "Both": {"Fn::And": [{"Condition": "NotLast"}, {"Condition": "Named"}]},
        "Either": {"Fn::Or": [{"Condition": "Early"}, {"Condition": "Named"}]},
    },
}
VALUE = {
    "List": ["a", {"Fn::If": ["Early", "b", {"Ref": "AWS::NoValue"}]},
             {"Fn::If": ["NotLast", "c", {"Ref": "AWS::NoValue"}]}, "d"],
    "Maybe": {"Fn::If": ["Both", "both", {"Ref": "AWS::NoValue"}]},
    "Which": {"Fn::If": ["Either", "either", "neither"]},
}


def no_resource(logical_id: str) -> dict[str, str]:
    raise AssertionError(logical_id)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, {"List": ["a", "d"], "Which": "neither"}),
    ({"Stage": "2"}, {"List": ["a", "c", "d"], "Which": "neither"}),
    ({"Stage": "1"}, {"List": ["a", "b", "c", "d"], "Which": "either"}),
    ({"Stage": "2", "Name": "x"}, {"List": ["a", "c", "d"], "Maybe": "both", "Which": "either"}),
])
def test_conditions_pick_branches_and_no_value_drops_the_element(overrides: dict[str, str],
                                                                 expected: dict[str, Any]) -> None:
    assert Resolver(TEMPLATE, no_resource, overrides=overrides).resolve(VALUE) == expected


def test_an_unknown_condition_form_is_refused() -> None:
    template = {"Conditions": {"Odd": {"Fn::Contains": ["a"]}}}
    with pytest.raises(ValueError, match="not a condition"):
        Resolver(template, no_resource).resolve({"Fn::If": ["Odd", 1, 2]})


@pytest.mark.parametrize(("stage", "indexes"), [
    ("1", ["byTeam", "byTeamStatus", "byTeamPhase", "delayedDue", "activeDeadline"]),
    ("2", ["byTeam", "byTeamPhase", "delayedDue", "activeDeadline"]),
    ("3", ["byTeamPhase", "delayedDue", "activeDeadline"]),
])
def test_each_stage_of_the_tasks_table_defines_exactly_its_key_attributes(stage: str, indexes: list[str]) -> None:
    template = load_template()
    props = Resolver(template, no_resource, overrides={"TasksIndexStage": stage}).resolve(
        template["Resources"]["TasksTable"]["Properties"])
    assert [g["IndexName"] for g in props["GlobalSecondaryIndexes"]] == indexes
    schemas = [props["KeySchema"], *(g["KeySchema"] for g in props["GlobalSecondaryIndexes"])]
    keys = {k["AttributeName"] for schema in schemas for k in schema}
    assert sorted(a["AttributeName"] for a in props["AttributeDefinitions"]) == sorted(keys)  # DynamoDB's rule
