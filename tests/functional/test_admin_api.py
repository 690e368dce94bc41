"""Issue 16's admin side through the API Lambda's entry point (app.app) against moto: key scopes
(an admin route answers 403 to a tasks key and to a client token, and changes nothing), the
`/v1/keys` and `/v1/client-tokens` routes, client-token reads of `GET /v1/tasks[/{id}]`, live
tickets and `GET /v1/limits`."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalice.test import Client

import app as lambdas
from taskhook.container import container, reset_container

from .conftest import Provisioned
from .test_handlers import api_key, connect_event, connections, context, create_task

TEAM, OTHER = "team-a", "team-b"
NOT_ADMIN = {"error": "This key is not allowed to manage the team (scope: tasks)"}
READS_ONLY = {"error": "A client token can only read its client's tasks"}
ADMIN_ROUTES = [
    ("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/key_000000000000"),
    ("GET", "/v1/client-tokens"), ("POST", "/v1/client-tokens"), ("DELETE", "/v1/client-tokens/cli_000000000000"),
    ("GET", "/v1/webhooks/secret"), ("POST", "/v1/webhooks/secret/rotate"),
    ("GET", "/v1/tokens"), ("POST", "/v1/tokens"), ("GET", "/v1/tokens/tok_x"), ("PUT", "/v1/tokens/tok_x"),
    ("DELETE", "/v1/tokens/tok_x"), ("GET", "/v1/limits"),
]


@pytest.fixture
def http(aws: Provisioned) -> Iterator[Any]:
    with Client(lambdas.app) as client:
        yield client.http


def call(http: Any, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    response = http.request(method, path, headers=headers, body=json.dumps(body).encode() if body is not None else b"")
    return response.status_code, json.loads(response.body) if response.body else {}


def items(aws: Provisioned, table: str) -> list[dict[str, Any]]:
    return list(aws.client("dynamodb").scan(TableName=aws.env[table])["Items"])


def client_token(team: str = TEAM, client: str = "mobile") -> tuple[str, str]:
    secret, token = container().client_token_service.create(team, client)
    return secret, token.key_id


# ---- scopes ------------------------------------------------------------------------------------


def test_a_tasks_key_gets_403_on_every_admin_route_and_nothing_changes(aws: Provisioned, http: Any) -> None:
    key = api_key(TEAM, scope="tasks")
    before = {t: items(aws, t) for t in ("API_KEYS_TABLE", "VAULT_TABLE", "TEAMS_TABLE")}

    for method, path in ADMIN_ROUTES:
        body = {"name": "x", "value": "v", "scope": "admin", "client": "c"} if method in ("POST", "PUT") else None
        assert call(http, method, path, key, body) == (403, NOT_ADMIN), (method, path)

    assert {t: items(aws, t) for t in before} == before


def test_a_client_token_gets_403_on_every_admin_route(aws: Provisioned, http: Any) -> None:
    secret, _ = client_token()
    for method, path in ADMIN_ROUTES:
        assert call(http, method, path, secret, {} if method in ("POST", "PUT") else None) == (403, READS_ONLY), path


def test_the_task_routes_take_both_scopes(aws: Provisioned, http: Any) -> None:
    for scope in ("tasks", "admin"):
        key = api_key(TEAM, scope=scope)
        status, body = call(http, "POST", "/v1/tasks", key, {"targetUrl": "https://example.com/hook"})
        assert status == 201, body
        assert call(http, "GET", f"/v1/tasks/{body['task']['id']}", key)[0] == 200
        assert call(http, "POST", f"/v1/tasks/{body['task']['id']}/cancel", key)[0] == 200


def test_an_admin_key_may_use_the_admin_routes(aws: Provisioned, http: Any) -> None:
    key = api_key(TEAM, scope="admin")
    assert call(http, "GET", "/v1/webhooks/secret", key)[0] == 200
    assert call(http, "GET", "/v1/tokens", key) == (200, {"tokens": []})


def test_a_key_stored_before_scopes_is_an_admin_key(aws: Provisioned, http: Any) -> None:
    """A row without `scope` (every key made before this change) could already do everything."""
    key = api_key(TEAM, scope="tasks")
    table = aws.env["API_KEYS_TABLE"]
    [row] = items(aws, "API_KEYS_TABLE")
    aws.client("dynamodb").update_item(TableName=table, Key={"keyHash": row["keyHash"]},
                                       UpdateExpression="REMOVE #s", ExpressionAttributeNames={"#s": "scope"})

    assert call(http, "GET", "/v1/webhooks/secret", key)[0] == 200


def test_a_client_token_as_bearer_of_a_task_write_is_403_and_stores_nothing(aws: Provisioned, http: Any) -> None:
    secret, _ = client_token()
    assert call(http, "POST", "/v1/tasks", secret, {"targetUrl": "https://example.com/hook"}) == (403, READS_ONLY)
    assert items(aws, "TASKS_TABLE") == []


# ---- /v1/keys ----------------------------------------------------------------------------------


def test_keys_are_created_listed_and_revoked_through_the_api(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")

    status, created = call(http, "POST", "/v1/keys", admin, {"name": "ci", "scope": "tasks"})

    assert status == 201, created
    secret, key = created["apiKey"], created["key"]
    assert secret.startswith("th_") and key["id"].startswith("key_")
    assert (key["name"], key["scope"], key["revokedAt"]) == ("ci", "tasks", None)
    assert call(http, "GET", "/v1/tasks", secret)[0] == 200  # the new key works, for tasks only
    assert call(http, "GET", "/v1/keys", secret) == (403, NOT_ADMIN)
    status, listed = call(http, "GET", "/v1/keys", admin)
    assert status == 200 and [k["id"] for k in listed["keys"]][-1] == key["id"]
    text = json.dumps(listed)
    assert secret not in text and all(set(k) == {"id", "name", "scope", "createdAt", "revokedAt"}
                                      for k in listed["keys"])
    for row in items(aws, "API_KEYS_TABLE"):  # stored as its hash only
        assert secret not in json.dumps(row)

    status, revoked = call(http, "DELETE", f"/v1/keys/{key['id']}", admin)

    assert status == 200 and revoked["key"]["id"] == key["id"] and revoked["key"]["revokedAt"]
    assert call(http, "GET", "/v1/tasks", secret) == (401, {"error": "Invalid or revoked API key"})


def test_a_new_key_is_tasks_scoped_unless_asked(aws: Provisioned, http: Any) -> None:
    status, created = call(http, "POST", "/v1/keys", api_key(TEAM, scope="admin"), {})
    assert status == 201 and created["key"]["scope"] == "tasks" and created["key"]["name"] == ""
    status, created = call(http, "POST", "/v1/keys", api_key(TEAM, scope="admin"), {"scope": "admin"})
    assert status == 201 and created["key"]["scope"] == "admin"
    assert call(http, "GET", "/v1/keys", created["apiKey"])[0] == 200


@pytest.mark.parametrize(("body", "error"), [
    ({"scope": "root"}, "scope must be one of: admin, tasks"),
    ({"scope": 1}, "scope must be one of: admin, tasks"),
    ({"name": 7}, "name must be a string of at most 100 characters"),
    ({"name": "x" * 101}, "name must be a string of at most 100 characters"),
    ({"team": "team-b"}, "Unknown field: team"),
    ([], "Request body must be a JSON object"),
])
def test_a_bad_key_request_is_400_and_stores_nothing(aws: Provisioned, http: Any, body: Any, error: str) -> None:
    admin = api_key(TEAM, scope="admin")
    before = items(aws, "API_KEYS_TABLE")
    assert call(http, "POST", "/v1/keys", admin, body) == (400, {"error": error})
    assert items(aws, "API_KEYS_TABLE") == before


def test_another_teams_key_or_a_client_token_id_cannot_be_revoked_as_a_key(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")
    theirs = container().api_key_service.create(OTHER, name="theirs")[1].key_id
    _, token_id = client_token()
    for key_id in (theirs, token_id, "key_unknown", "nonsense"):
        assert call(http, "DELETE", f"/v1/keys/{key_id}", admin) == (404, {"error": "API key not found"})
    assert all("revokedAt" not in row for row in items(aws, "API_KEYS_TABLE"))


def test_an_admin_may_revoke_its_own_key(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")
    [key] = call(http, "GET", "/v1/keys", admin)[1]["keys"]
    assert call(http, "DELETE", f"/v1/keys/{key['id']}", admin)[0] == 200
    assert call(http, "GET", "/v1/keys", admin)[0] == 401


# ---- /v1/client-tokens -------------------------------------------------------------------------


def test_client_tokens_are_created_listed_and_revoked_through_the_api(aws: Provisioned, http: Any) -> None:
    admin = api_key(TEAM, scope="admin")

    status, created = call(http, "POST", "/v1/client-tokens", admin, {"client": "mobile-app"})

    assert status == 201, created
    secret, token = created["token"], created["clientToken"]
    assert secret.startswith("ct_") and token["id"].startswith("cli_")
    assert (token["client"], token["revokedAt"]) == ("mobile-app", None)
    status, listed = call(http, "GET", "/v1/client-tokens", admin)
    assert status == 200 and listed == {"clientTokens": [token]}
    assert call(http, "GET", "/v1/keys", admin)[1]["keys"][0]["id"] != token["id"]  # not listed as a key
    assert len(call(http, "GET", "/v1/keys", admin)[1]["keys"]) == 1

    status, revoked = call(http, "DELETE", f"/v1/client-tokens/{token['id']}", admin)

    assert status == 200 and revoked["clientToken"]["revokedAt"]
    assert call(http, "GET", "/v1/tasks", secret) == (401, {"error": "Invalid or revoked client token"})


@pytest.mark.parametrize(("body", "error"), [
    ({}, "client must be 1-64 characters"),
    ({"client": ""}, "client must be 1-64 characters"),
    ({"client": "x" * 65}, "client must be 1-64 characters"),
    ({"client": ["a"]}, "client must be 1-64 characters"),
    ({"client": "a", "team": "b"}, "Unknown field: team"),
])
def test_a_bad_client_token_request_is_400_and_stores_nothing(aws: Provisioned, http: Any, body: Any,
                                                              error: str) -> None:
    admin = api_key(TEAM, scope="admin")
    before = items(aws, "API_KEYS_TABLE")
    assert call(http, "POST", "/v1/client-tokens", admin, body) == (400, {"error": error})
    assert items(aws, "API_KEYS_TABLE") == before


def test_another_teams_client_token_is_404(aws: Provisioned, http: Any) -> None:
    _, theirs = client_token(OTHER)
    admin_key = api_key(TEAM, scope="admin")
    key_id = call(http, "GET", "/v1/keys", admin_key)[1]["keys"][0]["id"]
    for token_id in (theirs, key_id, "cli_unknown"):
        assert call(http, "DELETE", f"/v1/client-tokens/{token_id}", admin_key) == (
            404, {"error": "Client token not found"})


# ---- /v1/limits --------------------------------------------------------------------------------


def test_limits_are_the_plan_in_force(aws: Provisioned, http: Any) -> None:
    from taskhook.model.plan import DestinationLimit, TeamPlan

    admin = api_key(TEAM, scope="admin")
    container().plan_store.save(TEAM, TeamPlan(rps=5, concurrency=3, retention_days=90,
                                               destinations={"api.replicate.com": DestinationLimit(2, None, None)}))

    status, body = call(http, "GET", "/v1/limits", admin)

    assert status == 200, body
    assert body == {"team": TEAM, "limits": {
        "rps": 5, "burst": 5, "concurrency": 3, "retentionDays": 90,
        "destinations": {"api.replicate.com": {"concurrency": 2, "rps": None, "burst": None}}}}


# ---- WebSocket tickets -------------------------------------------------------------------------

WS_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/live"


@pytest.fixture
def ws_url(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TASKHOOK_WEBSOCKET_URL", WS_URL)
    reset_container()
    return WS_URL


def ticket_connect(ticket: str, connection_id: str = "conn-1", task_id: str | None = None) -> dict[str, Any]:
    event = connect_event("unused")
    query = {"ticket": ticket, **({"task_id": task_id} if task_id else {})}
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    event["requestContext"]["connectionId"] = connection_id
    return dict(lambdas.ws_connect(event, context("WsConnectFunction")))


def test_a_ticket_opens_one_connection_once(aws: Provisioned, http: Any, ws_url: str) -> None:
    key = api_key(TEAM, scope="tasks")

    status, body = call(http, "POST", "/v1/live/tickets", key)

    assert status == 201, body
    assert body["ticket"].startswith("wst_") and body["expiresIn"] == 30 and body["websocketUrl"] == ws_url
    stored = [row for row in items(aws, "API_KEYS_TABLE") if row.get("kind", {}).get("S") == "ticket"]
    assert len(stored) == 1 and body["ticket"] not in json.dumps(stored)  # its hash only
    assert stored[0]["keyHash"]["S"] == hashlib.sha256(body["ticket"].encode()).hexdigest()
    assert "keyId" not in stored[0] and "teamId" not in stored[0]

    assert ticket_connect(body["ticket"], "conn-1") == {"statusCode": 200, "body": ""}
    assert connections(aws) == {("conn-1", f"team#{TEAM}", TEAM)}
    again = ticket_connect(body["ticket"], "conn-2")
    assert again == {"statusCode": 401, "body": json.dumps({"error": "Invalid, used or expired ticket"})}
    assert connections(aws) == {("conn-1", f"team#{TEAM}", TEAM)}
    assert [r for r in items(aws, "API_KEYS_TABLE") if r.get("kind", {}).get("S") == "ticket"] == []


def test_a_ticket_is_not_a_key_and_does_not_show_among_the_keys(aws: Provisioned, http: Any, ws_url: str) -> None:
    admin = api_key(TEAM, scope="admin")
    ticket = call(http, "POST", "/v1/live/tickets", admin)[1]["ticket"]
    assert call(http, "GET", "/v1/tasks", ticket) == (401, {"error": "Invalid or revoked API key"})
    status, listed = call(http, "GET", "/v1/keys", admin)
    assert status == 200 and len(listed["keys"]) == 1
    assert call(http, "GET", "/v1/client-tokens", admin) == (200, {"clientTokens": []})
    assert ticket_connect(ticket)["statusCode"] == 200  # untouched by those reads


def test_an_expired_ticket_is_refused(aws: Provisioned, http: Any, ws_url: str) -> None:
    ticket = call(http, "POST", "/v1/live/tickets", api_key())[1]["ticket"]
    table = aws.env["API_KEYS_TABLE"]
    aws.client("dynamodb").update_item(
        TableName=table, Key={"keyHash": {"S": hashlib.sha256(ticket.encode()).hexdigest()}},
        UpdateExpression="SET expiresAt = :past", ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})

    assert ticket_connect(ticket)["statusCode"] == 401
    assert connections(aws) == set()


def test_the_ticket_of_a_key_revoked_since_is_refused(aws: Provisioned, http: Any, ws_url: str) -> None:
    admin = api_key(TEAM, scope="admin")
    status, created = call(http, "POST", "/v1/keys", admin, {"name": "dashboard"})
    ticket = call(http, "POST", "/v1/live/tickets", created["apiKey"])[1]["ticket"]
    assert call(http, "DELETE", f"/v1/keys/{created['key']['id']}", admin)[0] == 200

    answer = ticket_connect(ticket)

    assert answer == {"statusCode": 401, "body": json.dumps({"error": "Invalid or revoked API key"})}
    assert connections(aws) == set()


def test_a_client_tokens_ticket_watches_its_client_only(aws: Provisioned, http: Any, ws_url: str) -> None:
    secret, token_id = client_token()
    others = create_task(api_key())

    status, body = call(http, "POST", "/v1/live/tickets", secret)

    assert status == 201, body
    assert ticket_connect(body["ticket"], "conn-c")["statusCode"] == 200
    assert connections(aws) == {("conn-c", f"client#{token_id}", TEAM)}
    other_ticket = call(http, "POST", "/v1/live/tickets", secret)[1]["ticket"]
    assert ticket_connect(other_ticket, "conn-d", task_id=others["id"])["statusCode"] == 404  # not its client's
    own = start_as_client(api_key(), secret)
    own_ticket = call(http, "POST", "/v1/live/tickets", secret)[1]["ticket"]
    assert ticket_connect(own_ticket, "conn-e", task_id=own)["statusCode"] == 200
    assert ("conn-e", f"task#{own}", TEAM) in connections(aws)


def test_two_connects_with_one_ticket_at_once_open_one_connection(aws: Provisioned, http: Any, ws_url: str,
                                                                   atomic_dynamo_writes: None) -> None:
    ticket = call(http, "POST", "/v1/live/tickets", api_key())[1]["ticket"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda n: ticket_connect(ticket, f"conn-{n}")["statusCode"], range(4)))
    assert sorted(answers) == [200, 401, 401, 401]


def test_bad_tickets_are_refused_without_a_lookup_of_anything_else(aws: Provisioned, ws_url: str) -> None:
    key = api_key()
    [row] = items(aws, "API_KEYS_TABLE")
    for ticket in ("wst_nothing", "nonsense", key):  # a key is no ticket, and is not deleted for trying
        assert ticket_connect(ticket)["statusCode"] == 401
    assert items(aws, "API_KEYS_TABLE") == [row]


def test_live_answers_the_websocket_url(aws: Provisioned, http: Any, ws_url: str) -> None:
    assert call(http, "GET", "/v1/live", api_key(scope="tasks")) == (200, {"websocketUrl": ws_url})
    assert call(http, "GET", "/v1/live", None) == (401, {"error": "API key required"})
    assert call(http, "POST", "/v1/live/tickets", None) == (401, {"error": "API key required"})


# ---- client-token reads ------------------------------------------------------------------------


def start_as_client(key: str, token: str) -> str:
    """A function task started for the client (seed 003's client-token route): its clientId is the token's id."""
    with Client(lambdas.app) as client:
        response = client.http.post(f"/api/example_task/tasks/{token}/start/task1", body=b"{}",
                                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert response.status_code in (200, 201), response.body
    return str(json.loads(response.body)["task_id"])


def test_a_client_token_reads_its_clients_tasks_only(aws: Provisioned, http: Any, counted_from_rows: None) -> None:
    key = api_key(TEAM, scope="tasks")
    mine, mine_id = client_token(TEAM, "mobile")
    theirs, _ = client_token(TEAM, "web")
    own = [start_as_client(key, mine) for _ in range(2)]
    other_client = start_as_client(key, theirs)
    team_task = create_task(key)["id"]
    other_team = create_task(api_key(OTHER))["id"]

    status, body = call(http, "GET", "/v1/tasks", mine)

    assert status == 200, body
    assert sorted(t["id"] for t in body["tasks"]) == sorted(own)
    assert body["pagination"]["total"] is None and body["pagination"]["hasMore"] is False
    assert call(http, "GET", f"/v1/tasks/{own[0]}", mine)[1]["task"]["id"] == own[0]
    for task_id in (other_client, team_task, other_team, "no-such-task"):
        assert call(http, "GET", f"/v1/tasks/{task_id}", mine) == (404, {"error": "Task not found"}), task_id
    status, listed = call(http, "GET", "/v1/tasks", key)  # the team's key sees every task of its team
    assert status == 200 and len(listed["tasks"]) == 4 and listed["pagination"]["total"] == 4
    assert call(http, "POST", f"/v1/tasks/{own[0]}/cancel", mine) == (403, READS_ONLY)
    assert mine_id.startswith("cli_")


def test_a_client_tokens_list_pages_by_cursor(aws: Provisioned, http: Any) -> None:
    key = api_key(TEAM, scope="tasks")
    mine, _ = client_token(TEAM, "mobile")
    own = [start_as_client(key, mine) for _ in range(3)]
    for _ in range(2):
        create_task(key)

    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        status, body = call(http, "GET", f"/v1/tasks?limit=2{'&cursor=' + cursor if cursor else ''}", mine)
        assert status == 200, body
        seen += [t["id"] for t in body["tasks"]]
        if not body["pagination"]["hasMore"]:
            break
        cursor = body["pagination"]["nextCursor"]
    assert sorted(seen) == sorted(own) and len(seen) == 3


def test_a_client_filter_examines_a_bounded_number_of_items_per_call(aws: Provisioned, http: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget a client's page is short and goes on by cursor: never the whole history at once."""
    import taskhook.adapters.dynamo.task_pages as task_pages

    monkeypatch.setattr(task_pages, "FILTER_EXAMINE_LIMIT", 3)
    key = api_key(TEAM, scope="tasks")
    mine, _ = client_token(TEAM, "mobile")
    oldest = start_as_client(key, mine)
    for _ in range(4):
        create_task(key)
    read: list[int] = []
    original = task_pages.TaskPages.items
    monkeypatch.setattr(task_pages.TaskPages, "items",
                        lambda self, positions: _counted(read, original, self, positions))

    status, first = call(http, "GET", "/v1/tasks", mine)

    assert status == 200 and first["tasks"] == [] and first["pagination"]["hasMore"] is True
    assert sum(read) <= 3
    status, second = call(http, "GET", f"/v1/tasks?cursor={first['pagination']['nextCursor']}", mine)
    assert status == 200 and [t["id"] for t in second["tasks"]] == [oldest]
    assert second["pagination"]["hasMore"] is False


def _counted(read: list[int], original: Any, self: Any, positions: Any) -> Any:
    positions = list(positions)
    read.append(len(positions))
    return original(self, positions)


# ---- the operator command ----------------------------------------------------------------------


def test_the_cli_makes_tasks_keys_unless_told_and_says_the_scope(aws: Provisioned, http: Any) -> None:
    from .test_tasks_upgrade import run_cli

    [plain] = run_cli("keys", "create", "--team", TEAM, "--name", "ci")
    [admin] = run_cli("keys", "create", "--team", TEAM, "--scope", "admin")

    assert (plain["scope"], admin["scope"]) == ("tasks", "admin")
    assert call(http, "GET", "/v1/keys", plain["apiKey"]) == (403, NOT_ADMIN)
    assert call(http, "GET", "/v1/keys", admin["apiKey"])[0] == 200
    listed = {k["keyId"]: k["scope"] for k in run_cli("keys", "list", "--team", TEAM)}
    assert listed == {plain["keyId"]: "tasks", admin["keyId"]: "admin"}


def test_a_key_revoked_through_the_api_loses_its_websocket_connections(aws: Provisioned, http: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same revocation service as the operator command's: the key's connections are ended at once."""
    monkeypatch.setenv("WEBSOCKET_MANAGEMENT_URL", "https://x7y8z9w0v1.execute-api.us-east-1.amazonaws.com/live")
    reset_container()
    admin = api_key(TEAM, scope="admin")
    status, created = call(http, "POST", "/v1/keys", admin, {"name": "watcher"})
    assert status == 201
    stays = connect_event(admin)
    stays["requestContext"]["connectionId"] = "stays"
    assert lambdas.ws_connect(connect_event(created["apiKey"]), context("WsConnectFunction"))["statusCode"] == 200
    assert lambdas.ws_connect(stays, context("WsConnectFunction"))["statusCode"] == 200
    assert len(connections(aws)) == 2

    assert call(http, "DELETE", f"/v1/keys/{created['key']['id']}", admin)[0] == 200

    assert connections(aws) == {("stays", f"team#{TEAM}", TEAM)}
