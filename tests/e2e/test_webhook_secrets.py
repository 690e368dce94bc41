"""Webhook signing secrets through the local stack: rotations keep every superseded secret valid for
its full overlap, notifications verify with any of them, and the Teams table holds ciphertext only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from taskhook.model.clock import parse_iso
from taskhook.notify.secrets import MAX_SECRETS_IN_FORCE, ROTATION_OVERLAP
from tests.e2e.conftest import Client, Stack
from tests.e2e.test_execution import wait_terminal
from tests.support.targets import TargetServer


@pytest.fixture(scope="module")
def receiver() -> Iterator[TargetServer]:
    with TargetServer() as server:
        yield server


def listed(team: Client) -> list[dict[str, str]]:
    response = team.request("GET", "/v1/webhooks/secret")
    assert response.status_code == 200, response.text
    return list(response.json()["secrets"])


def rotate(team: Client) -> list[dict[str, str]]:
    response = team.request("POST", "/v1/webhooks/secret/rotate")
    assert response.status_code == 200, response.text
    return list(response.json()["secrets"])


def teams_item(stack: Stack, team_id: str) -> dict[str, Any]:
    env = stack.state["env"]
    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          aws_session_token=env["AWS_SESSION_TOKEN"])
    item = client.get_item(TableName=env["TEAMS_TABLE"], Key={"teamId": {"S": team_id}}, ConsistentRead=True)
    return dict(item["Item"])


def test_two_rotations_keep_both_previous_secrets_and_each_verifies(stack: Stack, team: Client,
                                                                    receiver: TargetServer) -> None:
    (first,) = listed(team)
    once = rotate(team)
    twice = rotate(team)

    assert [s["secret"] for s in twice] == [twice[0]["secret"], once[0]["secret"], first["secret"]]
    assert "expiresAt" not in twice[0]
    assert twice[1]["expiresAt"] > twice[0]["createdAt"]
    assert twice[2]["expiresAt"] == once[1]["expiresAt"]  # the second rotation left the first's overlap alone
    for superseded, successor in ((twice[1], twice[0]), (twice[2], once[0])):
        overlap = parse_iso(superseded["expiresAt"]) - parse_iso(successor["createdAt"])
        assert abs(overlap - ROTATION_OVERLAP) < timedelta(seconds=1)
    assert listed(team) == twice

    done = receiver.url("/rotated-twice", [200])
    task = team.create_ok({"targetUrl": receiver.url("/work-rotated", [200]), "onCompleteUrl": done})
    wait_terminal(team, task["id"])
    (call,) = receiver.wait_for_calls("/rotated-twice", 1, timeout=20)
    assert len(call.headers["webhook-signature"].split(" ")) == 3
    for secret in twice:  # a receiver holding any one of them verifies
        assert Webhook(secret["secret"]).verify(call.body, call.headers)["task"]["id"] == task["id"]

    stored = repr(teams_item(stack, team.team))
    for secret in twice:
        assert secret["secret"] not in stored
        assert secret["secret"].removeprefix("whsec_") not in stored


def test_rotations_past_the_cap_are_refused_and_change_nothing(team: Client) -> None:
    listed(team)
    for _ in range(MAX_SECRETS_IN_FORCE - 1):
        rotate(team)
    before = listed(team)
    assert len(before) == MAX_SECRETS_IN_FORCE

    refused = team.request("POST", "/v1/webhooks/secret/rotate")

    assert refused.status_code == 409, refused.text
    assert set(refused.json()) == {"error"}
    assert f"at most {MAX_SECRETS_IN_FORCE} signing secrets" in refused.json()["error"]
    assert "whsec_" not in refused.text
    assert listed(team) == before


def test_a_leaked_secret_is_expired_at_once_by_a_rotation_that_says_so(team: Client) -> None:
    """A rotation keeps the secrets it supersedes valid for 24 h, so a leaked one kept signing every
    notification, and five quick rotations locked rotation for a day. `expirePrevious` retires them
    all now: the new secret alone is valid, and it works past the cap."""
    listed(team)
    for _ in range(MAX_SECRETS_IN_FORCE - 1):
        rotate(team)
    assert team.request("POST", "/v1/webhooks/secret/rotate").status_code == 409

    answer = team.request("POST", "/v1/webhooks/secret/rotate", json={"expirePrevious": True})

    assert answer.status_code == 200, answer.text
    secrets = answer.json()["secrets"]
    assert len(secrets) == 1 and "expiresAt" not in secrets[0]
    assert listed(team) == secrets
    for body, message in (({"expirePrevious": "yes"}, "expirePrevious must be a boolean"),
                          ({"expire": True}, "Unknown field: expire"), ([], "Request body must be a JSON object")):
        refused = team.request("POST", "/v1/webhooks/secret/rotate", json=body)
        assert (refused.status_code, refused.json()) == (400, {"error": message})
    assert listed(team) == secrets
