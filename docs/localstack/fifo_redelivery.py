"""Minimal reproduction for LocalStack's maintainers: in a FIFO queue, a message in flight in one
message group delays the redelivery of a message of *another* group until the first one's
visibility timeout ends. SQS keeps groups independent: B comes back when its own visibility ends.

    python docs/localstack/fifo_redelivery.py http://127.0.0.1:4566   # LocalStack
    python docs/localstack/fifo_redelivery.py                         # AWS (credentials needed)

Prints how long B took to come back after its visibility (1 s) ended, and exits 1 when that is
more than 5 s (LocalStack 2026.3.0 in host mode: about 29 s, the rest of A's 30 s).
"""

from __future__ import annotations

import sys
import time
import uuid

import boto3


def main(endpoint: str | None) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint,
                       **({"aws_access_key_id": "test", "aws_secret_access_key": "test"} if endpoint else {}))
    url = sqs.create_queue(QueueName=f"repro-{uuid.uuid4().hex[:8]}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "30"})["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=url, MessageBody="A", MessageGroupId="group-a")
        sqs.send_message(QueueUrl=url, MessageBody="B", MessageGroupId="group-b")
        received = {}
        while len(received) < 2:  # A stays in flight for 30 s; B gets a 1 s visibility
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                received[message["Body"]] = message
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received["B"]["ReceiptHandle"], VisibilityTimeout=1)
        visible_at = time.monotonic() + 1
        while True:
            bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])]
            if "B" in bodies:
                late = time.monotonic() - visible_at
                print(f"B came back {late:.1f} s after its visibility ended (A still in flight: {'A' not in bodies})")
                return 0 if late <= 5 else 1
            if time.monotonic() - visible_at > 40:
                print("B never came back within 40 s")
                return 1
    finally:
        sqs.delete_queue(QueueUrl=url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
