"""The raw-boto3 adapters turn AWS's throttling into the domain's `Busy` (ARCHITECTURE.md: "AWS
errors become domain errors in the adapter"); other AWS errors are left as they are.

moto never throttles, so each call is answered by botocore's Stubber on a real client: no
network, no moto. The methods whose failures the port already reports as returned indexes
(SqsTaskQueue.send_many, SqsNotificationQueue.send) are covered by the queue contract suites.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from taskhook.adapters.dynamo.connections import DynamoConnectionStore
from taskhook.adapters.dynamo.team_secrets import DynamoSecretStore
from taskhook.adapters.sqs import SqsMessages, SqsTaskQueue
from taskhook.model.dispatch import Dispatch
from taskhook.model.errors import Busy
from taskhook.model.lanes import Lane
from taskhook.notify.live import Subscription
from taskhook.notify.secrets import SigningSecret
from tests.support.fakes import InMemoryCipher

REGION = "us-east-1"
DYNAMO_THROTTLING = ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
SQS_THROTTLING = ["RequestThrottled", "ThrottlingException"]
TABLE = "taskhook-test-connections"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/taskhook-test-high"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:taskhook-test-high"
OTHER_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:someone-elses-queue"


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    return client, Stubber(client)


@contextmanager
def answering(stubber: Stubber) -> Iterator[Stubber]:
    """Activate the stubber, and check afterwards that every scripted answer was asked for."""
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


# ---- DynamoConnectionStore ------------------------------------------------------------------

CONNECTION_CALLS: dict[str, Callable[[DynamoConnectionStore], Any]] = {
    "add": lambda store: store.add(Subscription("conn-1", "team-a", "task#t-1")),
    "remove": lambda store: store.remove("conn-1"),
    "team_of": lambda store: store.team_of("conn-1"),
    "subscriptions_of_team": lambda store: store.subscriptions_of_team("team-a"),
    "opened_by": lambda store: store.opened_by("conn-1"),
    "opened_with": lambda store: store.opened_with("team-a", "key_aaaaaaaaaaaa"),
}
FIRST_CALL = {"add": "put_item", "remove": "query", "team_of": "query", "subscriptions_of_team": "query",
              "opened_by": "query", "opened_with": "query"}


@pytest.mark.parametrize("code", DYNAMO_THROTTLING)
@pytest.mark.parametrize("method", list(CONNECTION_CALLS))
def test_connection_store_throttling_is_busy(method: str, code: str) -> None:
    client, stubber = stubbed("dynamodb")
    with answering(stubber):
        stubber.add_client_error(FIRST_CALL[method], service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            CONNECTION_CALLS[method](DynamoConnectionStore(client, TABLE))


@pytest.mark.parametrize("code", DYNAMO_THROTTLING)
def test_connection_store_remove_throttled_on_a_delete_is_busy(code: str) -> None:
    client, stubber = stubbed("dynamodb")
    row = {"connectionId": {"S": "conn-1"}, "topic": {"S": "task#t-1"}, "teamId": {"S": "team-a"}}
    with answering(stubber):
        stubber.add_response("query", {"Items": [row]})
        stubber.add_client_error("delete_item", service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            DynamoConnectionStore(client, TABLE).remove("conn-1")


@pytest.mark.parametrize("method", list(CONNECTION_CALLS))
def test_connection_store_leaves_other_errors_alone(method: str) -> None:
    client, stubber = stubbed("dynamodb")
    with answering(stubber):
        stubber.add_client_error(FIRST_CALL[method], service_error_code="ResourceNotFoundException",
                                 http_status_code=400)
        with pytest.raises(ClientError) as raised:
            CONNECTION_CALLS[method](DynamoConnectionStore(client, TABLE))
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


# ---- DynamoSecretStore ------------------------------------------------------------------------

SECRET_CALLS: dict[str, tuple[str, Callable[[DynamoSecretStore], Any]]] = {
    "load": ("get_item", lambda store: store.load("team-a")),
    "save": ("update_item", lambda store: store.save("team-a", [SigningSecret("whsec_x", "2024-01-01T00:00:00Z")])),
}


@pytest.mark.parametrize("code", DYNAMO_THROTTLING)
@pytest.mark.parametrize("method", list(SECRET_CALLS))
def test_secret_store_throttling_is_busy(method: str, code: str) -> None:
    operation, call = SECRET_CALLS[method]
    client, stubber = stubbed("dynamodb")
    with answering(stubber):
        stubber.add_client_error(operation, service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            call(DynamoSecretStore(client, "taskhook-test-teams", InMemoryCipher()))


@pytest.mark.parametrize("method", list(SECRET_CALLS))
def test_secret_store_leaves_other_errors_alone(method: str) -> None:
    operation, call = SECRET_CALLS[method]
    client, stubber = stubbed("dynamodb")
    with answering(stubber):
        stubber.add_client_error(operation, service_error_code="ValidationException", http_status_code=400)
        with pytest.raises(ClientError):
            call(DynamoSecretStore(client, "taskhook-test-teams", InMemoryCipher()))


# ---- SQS ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", SQS_THROTTLING)
def test_task_queue_send_throttling_is_busy(code: str) -> None:
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("send_message", service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            SqsTaskQueue(client, {Lane.HIGH: QUEUE_URL}).send(Dispatch("t-1", Lane.HIGH, 5))


def test_task_queue_send_leaves_other_errors_alone() -> None:
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("send_message", service_error_code="QueueDoesNotExist", http_status_code=400)
        with pytest.raises(ClientError):
            SqsTaskQueue(client, {Lane.HIGH: QUEUE_URL}).send(Dispatch("t-1", Lane.HIGH, 5))


@pytest.mark.parametrize("code", SQS_THROTTLING)
def test_task_queue_send_many_still_answers_throttling_with_the_indexes_not_sent(code: str) -> None:
    """The port reports a failed send as indexes, never by raising: kept as it was."""
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("send_message_batch", service_error_code=code, http_status_code=400)
        assert SqsTaskQueue(client, {Lane.HIGH: QUEUE_URL}).send_many([Dispatch("t-1", Lane.HIGH)]) == [0]


@pytest.mark.parametrize("code", SQS_THROTTLING)
def test_hold_throttled_on_the_visibility_change_is_busy(code: str) -> None:
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("change_message_visibility", service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            SqsMessages(client, (QUEUE_URL,)).hold(QUEUE_ARN, "receipt-1", 30)


@pytest.mark.parametrize("code", SQS_THROTTLING)
def test_hold_throttled_on_the_queue_url_lookup_is_busy(code: str) -> None:
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("get_queue_url", service_error_code=code, http_status_code=400)
        with pytest.raises(Busy):
            SqsMessages(client, (QUEUE_URL,)).hold(OTHER_QUEUE_ARN, "receipt-1", 30)


def test_hold_leaves_other_errors_alone() -> None:
    client, stubber = stubbed("sqs")
    with answering(stubber):
        stubber.add_client_error("change_message_visibility", service_error_code="ReceiptHandleIsInvalid",
                                 http_status_code=400)
        with pytest.raises(ClientError):
            SqsMessages(client, (QUEUE_URL,)).hold(QUEUE_ARN, "receipt-1", 30)
