"""Creates every table, queue and bucket that template.yaml declares, in the emulator that
AWS_ENDPOINT_URL names, and returns the functions' environment resolved against them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from .template import Resolver, load_template

PROVISIONED_TYPES = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::KMS::Alias")
STREAM_TIMEOUT, STREAM_POLL_SECONDS = 60.0, 0.2
_TABLE_KEYS = ("TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
               "LocalSecondaryIndexes", "BillingMode", "StreamSpecification", "ProvisionedThroughput")


class Provisioner:
    def __init__(self, endpoint_url: str | None, region: str, prefix: str | None = None) -> None:
        self.template = load_template()
        kwargs: dict[str, Any] = {"region_name": region}
        self._endpoint_url = endpoint_url
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        self._client: Callable[[str], Any] = lambda service: boto3.client(service, **kwargs)
        overrides = {"Prefix": prefix} if prefix else {}
        account = self._client("sts").get_caller_identity()["Account"]
        self.resolver = Resolver(self.template, self._physical, region=region, account=account, overrides=overrides)
        self._created: dict[str, dict[str, str]] = {}
        self.resources: dict[str, Any] = self.template["Resources"]

    def _physical(self, logical_id: str) -> dict[str, str]:
        if logical_id not in self._created:
            self._create(logical_id)
        return self._created[logical_id]

    def _create(self, logical_id: str) -> None:
        resource = self.resources[logical_id]
        kind = resource["Type"]
        props = self.resolver.resolve(resource.get("Properties", {}))
        if kind == "AWS::DynamoDB::Table":
            self._created[logical_id] = self._table(props)
        elif kind == "AWS::SQS::Queue":
            self._created[logical_id] = self._queue(props)
        elif kind == "AWS::S3::Bucket":
            self._created[logical_id] = self._bucket(props)
        elif kind == "AWS::KMS::Key":
            self._created[logical_id] = self._key(logical_id, props)
        elif kind == "AWS::KMS::Alias":
            self._created[logical_id] = self._alias(props)
        else:
            raise KeyError(f"{logical_id} ({kind}) is not provisioned locally")

    def _table(self, props: dict[str, Any]) -> dict[str, str]:
        ddb = self._client("dynamodb")
        name = props["TableName"]
        try:
            described = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            spec = {k: props[k] for k in _TABLE_KEYS if k in props}
            if "StreamSpecification" in spec:  # CloudFormation implies StreamEnabled; the API does not
                spec["StreamSpecification"] = {"StreamEnabled": True, **spec["StreamSpecification"]}
            described = ddb.create_table(**spec)["TableDescription"]
            ddb.get_waiter("table_exists").wait(TableName=name)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        out = {"Ref": name, "Arn": described["TableArn"]}
        if described.get("LatestStreamArn"):
            out["StreamArn"] = described["LatestStreamArn"]
            if self._endpoint_url:  # an emulator's server (moto's in-process mock has no Streams API)
                self._wait_for_stream(out["StreamArn"])
        return out

    def _wait_for_stream(self, arn: str, timeout: float = STREAM_TIMEOUT) -> None:
        """Until the table's stream is ENABLED (not ENABLING): an emulator may drop the writes
        made before (LocalStack: "Stream ... is not currently ACTIVE"), and the stack writes
        right away."""
        streams = self._client("dynamodbstreams")
        deadline = time.monotonic() + timeout
        while True:
            status = streams.describe_stream(StreamArn=arn)["StreamDescription"].get("StreamStatus")
            if status == "ENABLED":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stream {arn} is still {status} after {timeout:.0f}s")
            time.sleep(STREAM_POLL_SECONDS)

    def _queue(self, props: dict[str, Any]) -> dict[str, str]:
        sqs = self._client("sqs")
        name = props["QueueName"]
        attributes = {k: str(v).lower() if isinstance(v, bool) else str(v)
                      for k, v in props.items() if k not in ("QueueName", "RedrivePolicy", "Tags")}
        if "RedrivePolicy" in props:
            import json

            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            # It exists with other attributes (an operator tuned it): use it as it is, rather
            # than fail every start of the runner.
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    def _bucket(self, props: dict[str, Any]) -> dict[str, str]:
        s3 = self._client("s3")
        name = props["BucketName"]
        try:
            s3.head_bucket(Bucket=name)
        except s3.exceptions.ClientError:
            s3.create_bucket(Bucket=name)
        return {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}

    def _key(self, logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        """The key an alias of the template already names (a restored emulator keeps its keys and
        their material), else a new one: a second key would not decrypt what the first encrypted."""
        import json

        kms = self._client("kms")
        aliases = [self.resolver.resolve(r["Properties"]["AliasName"]) for r in self.resources.values()
                   if r["Type"] == "AWS::KMS::Alias" and r["Properties"].get("TargetKeyId") == {"Ref": logical_id}]
        for alias in aliases:
            try:
                meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
                break
            except kms.exceptions.NotFoundException:
                continue
        else:
            spec: dict[str, Any] = {"Description": props.get("Description", "")}
            if "KeyPolicy" in props:
                spec["Policy"] = json.dumps(props["KeyPolicy"])
            meta = kms.create_key(**spec)["KeyMetadata"]
            if props.get("EnableKeyRotation"):
                kms.enable_key_rotation(KeyId=meta["KeyId"])
        return {"Ref": meta["KeyId"], "Arn": meta["Arn"], "KeyId": meta["KeyId"]}

    def _alias(self, props: dict[str, Any]) -> dict[str, str]:
        kms = self._client("kms")
        try:
            kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        except kms.exceptions.AlreadyExistsException:
            kms.update_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        return {"Ref": props["AliasName"]}

    def provision(self) -> dict[str, str]:
        """Create every provisioned resource; return Globals.Function.Environment.Variables resolved."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] in PROVISIONED_TYPES:
                self._physical(logical_id)
        variables = self.template["Globals"]["Function"]["Environment"]["Variables"]
        resolved = {}
        for name, value in variables.items():
            try:
                resolved[name] = str(self.resolver.resolve(value))
            except KeyError:
                continue  # refers to what has no local twin here (the WebSocket API): the stack sets it
        return resolved

    def physical(self, logical_id: str) -> dict[str, str]:
        return self._physical(logical_id)


def provision(endpoint_url: str | None, region: str, prefix: str | None = None) -> dict[str, str]:
    return Provisioner(endpoint_url, region, prefix).provision()
