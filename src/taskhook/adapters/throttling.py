"""AWS throttling, whatever the service, as the domain's Busy (the caller may retry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

from taskhook.model.errors import Busy

# DynamoDB's codes, and SQS's (its query and JSON protocols name it differently).
DYNAMODB_THROTTLED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                                "RequestLimitExceeded"})
SQS_THROTTLED = frozenset({"RequestThrottled", "ThrottlingException"})
THROTTLED = DYNAMODB_THROTTLED | SQS_THROTTLED


@contextmanager
def busy_when_throttled() -> Iterator[None]:
    """A raw boto3 call's throttling error becomes Busy; any other error passes unchanged."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in THROTTLED:
            raise Busy() from exc
        raise
