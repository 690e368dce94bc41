"""Holes found by attacking issue 16 (dashboard, admin routes, client tokens, tickets, retry,
resend), each reproduced here first, then fixed.

1. An id longer than DynamoDB's partition key limit (2048 bytes) went to DynamoDB as a key: on AWS
   GetItem / Query answer ValidationException (moto checks it on writes only), so
   `GET /v1/tasks/{id}`, its `retry`, `cancel` and `resend`, `DELETE /v1/keys/{id}` and
   `DELETE /v1/client-tokens/{id}` answered 500 (a traceback in the log), and a WebSocket connect
   or `subscribe` naming such a task crashed its Lambda. No task or key can have such an id: 404.
2. `DELETE /v1/keys/{id}` (and the client tokens') of a key revoked already wrote a new
   `revokedAt`: the time of the revocation was lost at every repeat. A repeat now answers the key
   as it was revoked and writes nothing.
3. `GET /v1/keys` and `GET /v1/client-tokens` (request paths since issue 16; before, only the
   operator command listed keys) read a team's keys by a Scan of the whole API keys table: every
   team's keys and client tokens, and every WebSocket ticket not yet expired by its TTL (a row per
   `POST /v1/live/tickets`, which any tasks key or client token may ask for at its team's rate).
   One team's tickets made every other team's admin page read more. They now Query a `byTeam`
   index (tickets have no `teamId`: the index never holds them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from moto.dynamodb.exceptions import HashKeyTooLong
from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

import app as lambdas

from .conftest import Provisioned
from .test_admin_api import call, client_token, items
from .test_handlers import api_key, connect_event, context, message_event

TEAM = "team-a"
NOT_FOUND = {"error": "Task not found"}


def _check_key(values: Any) -> None:
    for value in values:
        if DynamoType(value).size() > HASH_KEY_MAX_LENGTH:
            raise HashKeyTooLong


@pytest.fixture
def dynamodb_key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's own check of a key on a read (moto makes it on writes only): a partition key
    over 2048 bytes is a ValidationException for GetItem and for a Query of an index."""
    get_item, query = DynamoDBBackend.get_item, DynamoDBBackend.query

    def checked_get_item(self: Any, table_name: str, keys: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        _check_key(keys.values())
        return get_item(self, table_name, keys, *args, **kwargs)

    def checked_query(self: Any, table_name: str, hash_key_dict: Any, *args: Any, **kwargs: Any) -> Any:
        _check_key([hash_key_dict] if hash_key_dict else [])
        return query(self, table_name, hash_key_dict, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", checked_get_item)
    monkeypatch.setattr(DynamoDBBackend, "query", checked_query)


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items each Scan examined and each Query returned (what either is billed on)."""
    read: list[int] = []
    scan, query = DynamoDBBackend.scan, DynamoDBBackend.query

    def counted_scan(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = scan(self, *args, **kwargs)
        read.append(answer[1])  # (items, scanned count, last key)
        return answer

    def counted_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = query(self, *args, **kwargs)
        read.append(answer[1])
        return answer

    monkeypatch.setattr(DynamoDBBackend, "scan", counted_scan)
    monkeypatch.setattr(DynamoDBBackend, "query", counted_query)
    return read


@pytest.fixture
def http(aws: Provisioned) -> Iterator[Any]:
    with Client(lambdas.app) as client:
        yield client.http


LONG_ID = "a" * 2100  # a path parameter this long reaches the function (API Gateway allows 8 KB)


# ---- 1. ids no row can have ----------------------------------------------------------------------


def test_the_key_limit_fixture_is_dynamodbs(aws: Provisioned, dynamodb_key_limits: None) -> None:
    # The fixture refuses what DynamoDB refuses, and only that.
    ddb = aws.client("dynamodb")
    table = aws.env["TASKS_TABLE"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "a" * 2048}})
    with pytest.raises(ddb.exceptions.ClientError, match="Size of hashkey has exceeded"):
        ddb.get_item(TableName=table, Key={"id": {"S": "a" * 2049}})


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/v1/tasks/{LONG_ID}"),
    ("POST", f"/v1/tasks/{LONG_ID}/retry"),
    ("POST", f"/v1/tasks/{LONG_ID}/cancel"),
    ("POST", f"/v1/tasks/{LONG_ID}/notifications/n1/resend"),
    ("GET", f"/tasks/{LONG_ID}"),
    ("GET", f"/api/examples/task/result/{LONG_ID}"),
])
def test_a_task_id_longer_than_any_key_is_404(aws: Provisioned, dynamodb_key_limits: None, http: Any,
                                             method: str, path: str) -> None:
    key = api_key(TEAM, scope="tasks")
    status, body = call(http, method, path, key, {} if method == "POST" else None)
    assert status == 404, body
    assert body == NOT_FOUND or path.startswith(("/tasks/", "/api/")) and "error" in body


@pytest.mark.parametrize(("path", "error"), [
    (f"/v1/keys/key_{LONG_ID}", "API key not found"),
    (f"/v1/client-tokens/cli_{LONG_ID}", "Client token not found"),
])
def test_a_key_id_longer_than_any_key_is_404_and_nothing_changes(aws: Provisioned, dynamodb_key_limits: None,
                                                                http: Any, path: str, error: str) -> None:
    key = api_key(TEAM, scope="admin")
    before = items(aws, "API_KEYS_TABLE")
    assert call(http, "DELETE", path, key) == (404, {"error": error})
    assert items(aws, "API_KEYS_TABLE") == before


def test_a_websocket_naming_a_task_longer_than_any_key_is_404(aws: Provisioned, dynamodb_key_limits: None) -> None:
    key = api_key(TEAM, scope="tasks")
    answer = lambdas.ws_connect(connect_event(key, task_id=LONG_ID), context("WsConnectFunction"))
    assert answer["statusCode"] == 404 and json.loads(answer["body"]) == NOT_FOUND
    opened = lambdas.ws_connect(connect_event(key), context("WsConnectFunction"))
    assert opened["statusCode"] == 200
    subscribe = message_event(json.dumps({"action": "subscribe", "task_id": LONG_ID}))
    subscribe["requestContext"]["connectionId"] = connect_event(key)["requestContext"]["connectionId"]
    answer = lambdas.ws_message(subscribe, context("WsMessageFunction"))
    assert answer["statusCode"] == 404 and json.loads(answer["body"]) == NOT_FOUND


# ---- 2. a repeated revocation --------------------------------------------------------------------


def test_revoking_a_revoked_key_again_keeps_its_revocation_time(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")
    _, made = call(http, "POST", "/v1/keys", admin, {"name": "ci"})
    path = f"/v1/keys/{made['key']['id']}"
    status, first = call(http, "DELETE", path, admin)
    assert status == 200 and first["key"]["revokedAt"]
    before = items(aws, "API_KEYS_TABLE")

    assert call(http, "DELETE", path, admin) == (200, first)
    assert items(aws, "API_KEYS_TABLE") == before


def test_revoking_a_revoked_client_token_again_keeps_its_revocation_time(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")
    _, token_id = client_token(TEAM)
    path = f"/v1/client-tokens/{token_id}"
    status, first = call(http, "DELETE", path, admin)
    assert status == 200 and first["clientToken"]["revokedAt"]
    before = items(aws, "API_KEYS_TABLE")

    assert call(http, "DELETE", path, admin) == (200, first)
    assert items(aws, "API_KEYS_TABLE") == before


# ---- 3. a team's keys without every team's rows ----------------------------------------------------


def test_listing_a_teams_keys_reads_none_of_another_teams_rows_nor_any_ticket(aws: Provisioned, http: Any,
                                                                             rows_read: list[int]) -> None:
    mine = api_key(TEAM, scope="admin")
    _, token_id = client_token(TEAM)
    theirs = api_key("team-b", scope="tasks")
    for _ in range(20):  # tickets nobody used: rows of the keys table until their TTL
        assert call(http, "POST", "/v1/live/tickets", theirs, {})[0] == 201
    for _ in range(5):
        api_key("team-b", scope="tasks")
    rows_read.clear()

    status, keys = call(http, "GET", "/v1/keys", mine)
    assert status == 200 and len(keys["keys"]) == 1
    status, tokens = call(http, "GET", "/v1/client-tokens", mine)
    assert status == 200 and [t["id"] for t in tokens["clientTokens"]] == [token_id]

    # The caller's key is found by its hash (a GetItem); each list reads the team's two rows.
    assert sum(rows_read) <= 4, rows_read
