"""DynamoDB's errors as the domain's: a failed condition is a Conflict, throttling is Busy."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException

from taskhook.adapters.throttling import DYNAMODB_THROTTLED
from taskhook.model.errors import Busy, Conflict

CONDITION_FAILED = "ConditionalCheckFailedException"


def code_of(exc: PynamoDBException) -> str | None:
    return getattr(exc, "cause_response_code", None)


def domain_error(exc: PynamoDBException, conflict: str) -> Exception:
    """The domain error for `exc`, or `exc` itself when it has none."""
    code = code_of(exc)
    if code == CONDITION_FAILED:
        return Conflict(conflict)
    if code in DYNAMODB_THROTTLED:
        return Busy()
    return exc
