"""Minimal reproduction for LocalStack's maintainers: a conditional UpdateItem that succeeds while
the PutItem creating the item is still in flight is streamed as an INSERT with no old image.
DynamoDB Streams shows each write once, in order, with the item before it: an INSERT (the put),
then a MODIFY whose OldImage is the put's item.

    python docs/localstack/update_during_put.py http://127.0.0.1:4566   # LocalStack
    python docs/localstack/update_during_put.py                         # AWS (credentials needed)

For each of 50 items, one thread puts the item while another retries `SET n = n + 1` on condition
that the item exists until it succeeds; then it reads the stream. Prints how many items' update
record is not a MODIFY with the put's item as its old image, and exits 1 when any is not.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

import boto3
from botocore.exceptions import ClientError

ITEMS = 50


def main(endpoint: str | None) -> int:
    options = {"region_name": "us-east-1", "endpoint_url": endpoint,
               **({"aws_access_key_id": "test", "aws_secret_access_key": "test"} if endpoint else {})}
    ddb, streams = boto3.client("dynamodb", **options), boto3.client("dynamodbstreams", **options)
    table = f"repro-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.get_waiter("table_exists").wait(TableName=table)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    while streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] != "ENABLED":
        time.sleep(0.1)
    try:
        for n in range(ITEMS):
            item_id = f"item-{n}"

            def update(key: str = item_id) -> None:
                while True:
                    try:
                        ddb.update_item(TableName=table, Key={"id": {"S": key}}, UpdateExpression="SET n = n + :one",
                                        ConditionExpression="attribute_exists(id)",
                                        ExpressionAttributeValues={":one": {"N": "1"}})
                        return
                    except ClientError as exc:
                        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                            raise

            updater = threading.Thread(target=update)
            updater.start()
            time.sleep(0.005)
            ddb.put_item(TableName=table, Item={"id": {"S": item_id}, "n": {"N": "0"}})
            updater.join()
        time.sleep(2)  # LocalStack forwards records to its stream a moment after the write
        records: dict[str, list[dict]] = {}
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            empty = 0
            while iterator and empty < 5:  # a shard can answer empty pages before its records (AWS)
                answer = streams.get_records(ShardIterator=iterator, Limit=1000)
                empty = 0 if answer["Records"] else empty + 1
                for record in answer["Records"]:
                    records.setdefault(record["dynamodb"]["Keys"]["id"]["S"], []).append(record)
                iterator = answer.get("NextShardIterator")
        wrong = 0
        for n in range(ITEMS):
            names = [(r["eventName"], r["dynamodb"].get("OldImage", {}).get("n", {}).get("N"))
                     for r in records.get(f"item-{n}", [])]
            if names != [("INSERT", None), ("MODIFY", "0")]:
                wrong += 1
                if wrong <= 3:
                    print(f"item-{n}: {names}   (expected [('INSERT', None), ('MODIFY', '0')])")
        print(f"{wrong} of {ITEMS} items' update was not streamed as a MODIFY from the put's item")
        return 1 if wrong else 0
    finally:
        ddb.delete_table(TableName=table)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
