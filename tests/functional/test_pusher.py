"""The Pusher contract (a live-feed message to one WebSocket connection), run against the
in-memory fake and against ApiGatewayPusher.

An open connection: the fake, and the adapter on moto's API Gateway management API (the
payload read back from moto's backend, as tests/functional/test_handlers.py does).

A connection that went away: moto cannot say so. Its management API keeps no list of open
connections (a PostToConnection to any id, even one deleted with DeleteConnection, succeeds and
creates it), so it never answers 410 GoneException. That case runs against the fake and against
the adapter on a real client answered by botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from taskhook.adapters.apigateway import ApiGatewayPusher
from taskhook.container import container, reset_container
from taskhook.ports import Pusher
from tests.support.fakes import InMemoryPusher

from .conftest import REGION, Provisioned

WS_MANAGEMENT_URL = "https://x7y8z9w0v1.execute-api.us-east-1.amazonaws.com/live"
CONNECTION = "R1xe8cx0IAMCJ3Q="  # API Gateway's ids end in '=': the path carries it URL-encoded
PAYLOAD = {"task_id": "t-1", "status": "processing", "progress": 40, "message": "half way", "result": None}


# ---- an open connection: fake and moto --------------------------------------------------------

@dataclass
class FakeConnections:
    pusher: InMemoryPusher

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        return self.pusher.received(connection_id)


@dataclass
class MotoConnections:
    pusher: ApiGatewayPusher

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        """What moto's management API received for the connection (moto appends each post's bytes
        to the connection's data, and keeps the id URL-encoded as it came in the path)."""
        backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
        data = b"".join(c.data for cid, c in backend.connections.items() if unquote(cid) == connection_id)
        decoder, text, payloads, at = json.JSONDecoder(), data.decode(), [], 0
        while at < len(text):
            payload, at = decoder.raw_decode(text, at)
            payloads.append(payload)
        return payloads


Connections = FakeConnections | MotoConnections


@pytest.fixture(params=["memory", "moto"])
def connections(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Connections:
    if request.param == "memory":
        return FakeConnections(InMemoryPusher())
    request.getfixturevalue("aws")
    monkeypatch.setenv("WEBSOCKET_MANAGEMENT_URL", WS_MANAGEMENT_URL)
    reset_container()
    return MotoConnections(ApiGatewayPusher(container().client("apigatewaymanagementapi")))


def test_a_push_to_an_open_connection_is_delivered_and_answers_true(connections: Connections) -> None:
    assert connections.pusher.push(CONNECTION, PAYLOAD) is True

    assert connections.received(CONNECTION) == [PAYLOAD]


def test_pushes_reach_their_own_connection_in_order(connections: Connections) -> None:
    first, second = {**PAYLOAD, "progress": 10}, {**PAYLOAD, "progress": 20, "status": "completed"}

    assert connections.pusher.push(CONNECTION, first) is True
    assert connections.pusher.push("other-conn=", {"task_id": "t-9"}) is True
    assert connections.pusher.push(CONNECTION, second) is True

    assert connections.received(CONNECTION) == [first, second]
    assert connections.received("other-conn=") == [{"task_id": "t-9"}]
    assert connections.received("nobody") == []


# ---- a connection that went away: fake and Stubber --------------------------------------------

def stubbed_client() -> Any:
    return boto3.client("apigatewaymanagementapi", region_name=REGION, endpoint_url=WS_MANAGEMENT_URL,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(params=["memory", "stubbed-410", "stubbed-GoneException"])
def gone_pusher(request: pytest.FixtureRequest) -> Iterator[Pusher]:
    """A pusher for which connection CONNECTION has gone away, once."""
    if request.param == "memory":
        yield InMemoryPusher(gone={CONNECTION})
        return
    client = stubbed_client()
    with Stubber(client) as stubber:
        # GoneException is the modelled error; a bare 410 without a typed body parses as code "410".
        code = request.param.removeprefix("stubbed-")
        stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=410,
                                 expected_params={"ConnectionId": CONNECTION, "Data": json.dumps(PAYLOAD).encode()})
        yield ApiGatewayPusher(client)
        stubber.assert_no_pending_responses()


def test_a_push_to_a_connection_that_went_away_answers_false(gone_pusher: Pusher) -> None:
    assert gone_pusher.push(CONNECTION, PAYLOAD) is False


def test_the_fake_delivers_nothing_to_a_gone_connection() -> None:
    pusher = InMemoryPusher(gone={CONNECTION})
    pusher.push(CONNECTION, PAYLOAD)
    assert pusher.received(CONNECTION) == [] and pusher.sent == []


def test_other_management_api_errors_are_raised_not_taken_for_gone() -> None:
    """Only "gone" is an answer; anything else must reach LiveFeed, which reports the task failed."""
    client = stubbed_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("post_to_connection", service_error_code="LimitExceededException",
                                 http_status_code=429)
        with pytest.raises(ClientError):
            ApiGatewayPusher(client).push(CONNECTION, PAYLOAD)


def test_moto_cannot_express_a_gone_connection(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the gone case is stubbed: on moto a deleted connection still takes posts. If this ever
    fails, moto has learnt 410 and the gone test can run on it too."""
    monkeypatch.setenv("WEBSOCKET_MANAGEMENT_URL", WS_MANAGEMENT_URL)
    reset_container()
    client = container().client("apigatewaymanagementapi")
    client.delete_connection(ConnectionId=CONNECTION)

    assert ApiGatewayPusher(client).push(CONNECTION, PAYLOAD) is True


# ---- disconnect: closing a connection (a revoked credential's) ------------------------------------

def test_disconnecting_an_open_connection_answers_true(connections: Connections) -> None:
    assert connections.pusher.disconnect(CONNECTION) is True


def test_the_fake_takes_no_push_after_a_disconnect() -> None:
    """moto keeps taking posts after a DeleteConnection (see below), so this half is the fake's;
    the local stack's twin answers 410 as API Gateway does (tests/e2e/test_live_access.py)."""
    pusher = InMemoryPusher()
    pusher.disconnect(CONNECTION)
    assert pusher.push(CONNECTION, PAYLOAD) is False
    assert pusher.disconnect(CONNECTION) is False and pusher.disconnected == [CONNECTION]


@pytest.fixture(params=["memory", "stubbed-410", "stubbed-GoneException"])
def gone_disconnecter(request: pytest.FixtureRequest) -> Iterator[Pusher]:
    """A pusher for which connection CONNECTION has gone away, for disconnect."""
    if request.param == "memory":
        yield InMemoryPusher(gone={CONNECTION})
        return
    client = stubbed_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("delete_connection", service_error_code=request.param.removeprefix("stubbed-"),
                                 http_status_code=410, expected_params={"ConnectionId": CONNECTION})
        yield ApiGatewayPusher(client)
        stubber.assert_no_pending_responses()


def test_disconnecting_a_connection_that_went_away_answers_false(gone_disconnecter: Pusher) -> None:
    assert gone_disconnecter.disconnect(CONNECTION) is False


def test_other_errors_of_a_disconnect_are_raised() -> None:
    client = stubbed_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("delete_connection", service_error_code="ForbiddenException", http_status_code=403)
        with pytest.raises(ClientError):
            ApiGatewayPusher(client).disconnect(CONNECTION)
