"""template.yaml: the KMS key that encrypts secrets at rest, and who may use it.

The functions that read or write a team's signing secrets (the REST API: GET /v1/webhooks/secret
and rotate; the deliverer: it signs, and rewrites a clear row of an older version encrypted) get
the Teams table, kms:Encrypt and kms:Decrypt on that key. The executors decrypt vault tokens just
before a call (and read the Teams table for the team's plan): kms:Decrypt only. No other function
gets any KMS access."""

from __future__ import annotations

from typing import Any

from infra.template import load_template
from taskhook.config import ENV_SECRETS_KEY_ID, Settings

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SECRET_USERS = {"app.app", "app.deliver_notifications"}
DECRYPT_ONLY = {"app.execute_high", "app.execute_normal", "app.execute_low"}
KEY = "SecretsKey"


def functions() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def policy_names(function: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for policy in function.get("Policies", []):
        if isinstance(policy, dict):
            for name, value in policy.items():
                out.setdefault(name, []).append(value)
    return out


def mentions_kms(value: Any) -> bool:
    return "kms" in repr(value).lower()


def test_the_key_is_a_retained_rotating_symmetric_key_with_an_alias() -> None:
    key = RESOURCES[KEY]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    aliases = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::KMS::Alias"]
    assert [a["TargetKeyId"] for a in aliases] == [{"Ref": KEY}]
    assert aliases[0]["AliasName"] == {"Fn::Sub": "alias/${Prefix}-secrets"}
    assert Settings().secrets_key_id == "alias/taskhook-secrets"  # the alias under the default prefix


def test_the_key_policy_delegates_to_iam_and_requires_an_encryption_context() -> None:
    statements = RESOURCES[KEY]["Properties"]["KeyPolicy"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert [s["Principal"] for s in allow] == [root]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert {"kms:Encrypt", "kms:Decrypt"} <= set(deny["Action"])
    assert deny["Condition"] == {"Null": {"kms:EncryptionContextKeys": "true"}}


def test_every_function_gets_the_keys_arn() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables[ENV_SECRETS_KEY_ID] == {"Fn::GetAtt": [KEY, "Arn"]}


def test_only_the_functions_that_touch_secrets_may_use_the_key_and_the_teams_table() -> None:
    users = {name: f for name, f in functions().items() if f["Handler"] in SECRET_USERS}
    assert {f["Handler"] for f in users.values()} == SECRET_USERS
    for name, function in users.items():
        policies = policy_names(function)
        assert policies.get("KMSEncryptPolicy") == [{"KeyId": {"Ref": KEY}}], name
        assert policies.get("KMSDecryptPolicy") == [{"KeyId": {"Ref": KEY}}], name
        assert {"TableName": {"Ref": "TeamsTable"}} in policies.get("DynamoDBCrudPolicy", []), name
        others = {k: v for k, v in policies.items() if k not in ("KMSEncryptPolicy", "KMSDecryptPolicy")}
        assert not mentions_kms(others), name  # nothing wider (kms:*, another key, GenerateDataKey)
    readers = {name: f for name, f in functions().items() if f["Handler"] in DECRYPT_ONLY}
    assert {f["Handler"] for f in readers.values()} == DECRYPT_ONLY
    for name, function in readers.items():
        policies = policy_names(function)
        assert policies.get("KMSDecryptPolicy") == [{"KeyId": {"Ref": KEY}}], name
        assert "KMSEncryptPolicy" not in policies, name
        assert {"TableName": {"Ref": "TeamsTable"}} in policies.get("DynamoDBReadPolicy", []), name
        assert {"TableName": {"Ref": "TeamsTable"}} not in policies.get("DynamoDBCrudPolicy", []), name
    for name, function in functions().items():
        if name not in users and name not in readers:
            assert not mentions_kms(function.get("Policies", [])), name
