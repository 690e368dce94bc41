"""infra.provision against moto: template.yaml is the one list of tables, queues and buckets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.provision import PROVISIONED_TYPES, Provisioner
from infra.template import Resolver, load_template
from taskhook import config

from .conftest import REGION, Provisioned

TABLE, QUEUE, BUCKET = "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket"
NAME_PROPERTY = {TABLE: "TableName", QUEUE: "QueueName", BUCKET: "BucketName"}


def _no_physical(logical_id: str) -> dict[str, str]:
    raise AssertionError(f"a resource name should not depend on another resource ({logical_id})")


def declared(aws: Provisioned, kind: str) -> dict[str, dict[str, Any]]:
    """logical id -> resolved Properties, for every resource of `kind` that template.yaml declares."""
    template = load_template()
    account = aws.client("sts").get_caller_identity()["Account"]
    resolver = Resolver(template, _no_physical, region=REGION, account=account)
    out = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == kind:
            props = dict(resource.get("Properties", {}))
            if kind == TABLE:  # conditions too: the tasks table's staged indexes (TasksIndexStage)
                props = resolver.resolve(props)
            props[NAME_PROPERTY[kind]] = resolver.resolve(props[NAME_PROPERTY[kind]])
            out[logical_id] = props
    return out


def test_the_template_declares_each_kind_of_provisioned_resource() -> None:
    kinds = {r["Type"] for r in load_template()["Resources"].values()}
    assert set(PROVISIONED_TYPES) <= kinds
    assert set(PROVISIONED_TYPES) == {TABLE, QUEUE, BUCKET, "AWS::KMS::Key", "AWS::KMS::Alias"}


def test_every_declared_table_exists_with_its_keys_and_indexes(aws: Provisioned) -> None:
    ddb = aws.client("dynamodb")
    tables = declared(aws, TABLE)
    assert tables, "template.yaml declares no table"
    assert set(ddb.list_tables()["TableNames"]) >= {p["TableName"] for p in tables.values()}
    for logical_id, props in tables.items():
        described = ddb.describe_table(TableName=props["TableName"])["Table"]
        assert described["TableStatus"] == "ACTIVE", logical_id
        assert described["KeySchema"] == props["KeySchema"], logical_id
        assert {(a["AttributeName"], a["AttributeType"]) for a in described["AttributeDefinitions"]} == {
            (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]
        }, logical_id
        wanted_gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        got_gsis = {g["IndexName"]: g for g in described.get("GlobalSecondaryIndexes", [])}
        assert set(got_gsis) == set(wanted_gsis), logical_id
        for name, gsi in wanted_gsis.items():
            assert got_gsis[name]["KeySchema"] == gsi["KeySchema"], f"{logical_id}.{name}"
            assert got_gsis[name]["Projection"]["ProjectionType"] == gsi["Projection"]["ProjectionType"]


def test_tasks_table_has_the_list_and_scheduler_indexes(aws: Provisioned) -> None:
    name = aws.env["TASKS_TABLE"]
    described = aws.client("dynamodb").describe_table(TableName=name)["Table"]
    keys = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]]
            for g in described["GlobalSecondaryIndexes"]}
    wanted = {
        "byTeamPhase": ["teamPhase", "createdAt"],
        "delayedDue": ["delayedShard", "dueAt"],
        "activeDeadline": ["activeShard", "deadlineAt"],
    }
    assert keys == wanted  # byTeam and byTeamStatus: only while an older stack upgrades (TasksIndexStage)
    projections = {g["IndexName"]: g["Projection"]["ProjectionType"] for g in described["GlobalSecondaryIndexes"]}
    assert projections["byTeamPhase"] == "KEYS_ONLY"


def test_tasks_table_streams_new_and_old_images(aws: Provisioned) -> None:
    described = aws.client("dynamodb").describe_table(TableName=aws.env["TASKS_TABLE"])["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert described.get("LatestStreamArn")


def test_every_table_with_a_stream_in_the_template_has_that_stream(aws: Provisioned) -> None:
    ddb = aws.client("dynamodb")
    with_stream = {k: p for k, p in declared(aws, TABLE).items() if "StreamSpecification" in p}
    assert "TasksTable" in with_stream
    for logical_id, props in with_stream.items():
        spec = ddb.describe_table(TableName=props["TableName"])["Table"]["StreamSpecification"]
        assert spec["StreamViewType"] == props["StreamSpecification"]["StreamViewType"], logical_id


def test_table_ttl_from_the_template_is_enabled(aws: Provisioned) -> None:
    ddb = aws.client("dynamodb")
    with_ttl = {k: p for k, p in declared(aws, TABLE).items() if "TimeToLiveSpecification" in p}
    assert "IdempotencyTable" in with_ttl
    for logical_id, props in with_ttl.items():
        ttl = ddb.describe_time_to_live(TableName=props["TableName"])["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED", logical_id
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]


def test_every_declared_queue_exists_with_its_attributes(aws: Provisioned) -> None:
    sqs = aws.client("sqs")
    queues = declared(aws, QUEUE)
    assert len(queues) >= 4  # three lanes and the dead-letter queue
    for logical_id, props in queues.items():
        url = sqs.get_queue_url(QueueName=props["QueueName"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if name in props:
                assert attributes[name] == str(props[name]), f"{logical_id}.{name}"


def test_lanes_redrive_to_the_dead_letter_queue(aws: Provisioned) -> None:
    sqs = aws.client("sqs")
    queues = declared(aws, QUEUE)
    dlq_url = sqs.get_queue_url(QueueName=queues["DeadLetterQueue"]["QueueName"])["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lanes = {k: p for k, p in queues.items() if "RedrivePolicy" in p and k != "NotificationsQueue"}
    assert set(lanes) == {"HighQueue", "NormalQueue", "LowQueue"}
    for logical_id, props in lanes.items():
        url = sqs.get_queue_url(QueueName=props["QueueName"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
        policy = json.loads(attributes["RedrivePolicy"])
        assert policy["deadLetterTargetArn"] == dlq_arn, logical_id
        assert int(policy["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"]
        # A retry is a redelivery: more receives than the largest maxRetries (10) plus the first try.
        assert int(policy["maxReceiveCount"]) > 11
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert "RedrivePolicy" not in attributes


def test_notifications_have_their_own_fifo_queue_and_dead_letter_queue(aws: Provisioned) -> None:
    sqs = aws.client("sqs")
    queues = declared(aws, QUEUE)
    url = sqs.get_queue_url(QueueName=queues["NotificationsQueue"]["QueueName"])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    dlq_name = queues["NotificationsDeadLetterQueue"]["QueueName"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(":" + dlq_name)


def test_every_declared_bucket_exists(aws: Provisioned) -> None:
    s3 = aws.client("s3")
    buckets = declared(aws, BUCKET)
    assert buckets
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for props in buckets.values():
        assert props["BucketName"] in existing
        s3.head_bucket(Bucket=props["BucketName"])


# Points at the WebSocket API, which has no emulator twin: the local stack serves its own and sets it.
SET_BY_THE_LOCAL_STACK = {"WEBSOCKET_MANAGEMENT_URL", "TASKHOOK_WEBSOCKET_URL"}


def test_returned_env_has_every_globals_variable_resolved(aws: Provisioned) -> None:
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert set(aws.env) == set(variables) - SET_BY_THE_LOCAL_STACK
    for name, value in aws.env.items():
        assert isinstance(value, str), name
        assert "${" not in value and "Ref" not in value and "Fn::" not in value, (name, value)
    sqs = aws.client("sqs")
    queues = declared(aws, QUEUE)
    assert aws.env["QUEUE_HIGH_URL"] == sqs.get_queue_url(QueueName=queues["HighQueue"]["QueueName"])["QueueUrl"]
    assert aws.env["QUEUE_NORMAL_URL"] == sqs.get_queue_url(QueueName=queues["NormalQueue"]["QueueName"])["QueueUrl"]
    assert aws.env["QUEUE_LOW_URL"] == sqs.get_queue_url(QueueName=queues["LowQueue"]["QueueName"])["QueueUrl"]
    assert aws.env["DLQ_URL"] == sqs.get_queue_url(QueueName=queues["DeadLetterQueue"]["QueueName"])["QueueUrl"]
    tables = declared(aws, TABLE)
    assert aws.env["TASKS_TABLE"] == tables["TasksTable"]["TableName"]
    assert aws.env["API_KEYS_TABLE"] == tables["ApiKeysTable"]["TableName"]
    assert aws.env["IDEMPOTENCY_TABLE"] == tables["IdempotencyTable"]["TableName"]
    assert aws.env["OUTPUTS_BUCKET"] == declared(aws, BUCKET)["OutputsBucket"]["BucketName"]


def test_settings_read_every_resource_variable_the_template_sets(aws: Provisioned) -> None:
    """config.py and template.yaml name the same variables: each ENV_* that names a resource (not an
    AWS_* variable, not a TASKHOOK_* tuning knob) is set by the template's Globals."""
    names = {getattr(config, n) for n in dir(config) if n.startswith("ENV_")}
    resource_names = {n for n in names if not n.startswith(("AWS_", "TASKHOOK_"))} - SET_BY_THE_LOCAL_STACK
    assert len(resource_names) >= 8
    assert resource_names <= set(aws.env), resource_names - set(aws.env)
    cfg = config.Settings.from_env(aws.env)
    assert cfg.tasks_table == aws.env["TASKS_TABLE"]
    assert cfg.api_keys_table == aws.env["API_KEYS_TABLE"]
    assert cfg.idempotency_table == aws.env["IDEMPOTENCY_TABLE"]
    assert cfg.queue_high_url == aws.env["QUEUE_HIGH_URL"]
    assert cfg.queue_normal_url == aws.env["QUEUE_NORMAL_URL"]
    assert cfg.queue_low_url == aws.env["QUEUE_LOW_URL"]
    assert cfg.dlq_url == aws.env["DLQ_URL"]
    assert cfg.outputs_bucket == aws.env["OUTPUTS_BUCKET"]


def test_provisioning_twice_is_idempotent_and_keeps_data(aws: Provisioned) -> None:
    ddb, sqs, s3 = aws.client("dynamodb"), aws.client("sqs"), aws.client("s3")
    ddb.put_item(TableName=aws.env["TASKS_TABLE"],
                 Item={"id": {"S": "keep-me"}, "teamId": {"S": "t"}, "createdAt": {"S": "x"}})
    sqs.send_message(QueueUrl=aws.env["DLQ_URL"], MessageBody="keep me too")
    s3.put_object(Bucket=aws.env["OUTPUTS_BUCKET"], Key="keep.txt", Body=b"kept")
    tables_before = sorted(ddb.list_tables()["TableNames"])
    queues_before = sorted(sqs.list_queues()["QueueUrls"])

    again = Provisioner(None, REGION).provision()

    assert again == aws.env
    assert sorted(ddb.list_tables()["TableNames"]) == tables_before
    assert sorted(sqs.list_queues()["QueueUrls"]) == queues_before
    item = ddb.get_item(TableName=aws.env["TASKS_TABLE"], Key={"id": {"S": "keep-me"}}).get("Item")
    assert item is not None and item["teamId"] == {"S": "t"}
    attrs = sqs.get_queue_attributes(QueueUrl=aws.env["DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert s3.get_object(Bucket=aws.env["OUTPUTS_BUCKET"], Key="keep.txt")["Body"].read() == b"kept"


def test_prefix_parameter_renames_every_resource(aws: Provisioned) -> None:
    env = Provisioner(None, REGION, prefix="other").provision()
    assert env["TASKS_TABLE"] == "other-tasks"
    assert env["QUEUE_HIGH_URL"].endswith("/other-high")
    assert env["OUTPUTS_BUCKET"].startswith("other-outputs-")
    tables = set(aws.client("dynamodb").list_tables()["TableNames"])
    assert {env["TASKS_TABLE"], env["API_KEYS_TABLE"], env["IDEMPOTENCY_TABLE"]} <= tables
    assert aws.env["TASKS_TABLE"] in tables  # the default-prefixed stack is untouched
    policy = json.loads(aws.client("sqs").get_queue_attributes(
        QueueUrl=env["QUEUE_LOW_URL"], AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(":other-dlq")


@pytest.mark.parametrize("logical_id", ["TaskhookLayer", "ApiFunction", "DeadLetterAlarm"])
def test_resources_that_are_not_emulated_are_refused(aws: Provisioned, logical_id: str) -> None:
    with pytest.raises(KeyError):
        Provisioner(None, REGION).physical(logical_id)


def test_a_queue_tuned_since_it_was_made_is_used_as_it_is(aws: Provisioned) -> None:
    from infra.provision import Provisioner

    sqs = aws.client("sqs")
    queues = declared(aws, QUEUE)
    url = sqs.get_queue_url(QueueName=queues["HighQueue"]["QueueName"])["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "7"})
    env = Provisioner(None, "us-east-1").provision()  # what every runner start does
    assert env["QUEUE_HIGH_URL"] == url
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "7"}
