"""`Idempotency-Key` on `POST /v1/tasks`: the same key and body returns the first task."""

from __future__ import annotations

import uuid

from .conftest import FAR_FUTURE, Client

URL = "https://api.example.com/webhook"
BODY = {"targetUrl": URL, "delayUntil": FAR_FUTURE, "priority": 8}


def test_same_key_and_body_returns_the_first_task(team: Client) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}

    first = team.create(BODY, headers=key)
    second = team.create(BODY, headers=key)
    third = team.create(dict(reversed(list(BODY.items()))), headers=key)  # same JSON, other key order

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert third.status_code == 200, third.text
    assert second.json()["task"]["id"] == first.json()["task"]["id"]
    assert second.json()["task"] == first.json()["task"]
    assert third.json()["task"]["id"] == first.json()["task"]["id"]
    listed = team.list().json()
    assert team.total() == 1
    assert [t["id"] for t in listed["tasks"]] == [first.json()["task"]["id"]]


def test_same_key_with_another_body_is_409(team: Client) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = team.create(BODY, headers=key)
    assert first.status_code == 201, first.text

    conflict = team.create({**BODY, "priority": 9}, headers=key)

    assert conflict.status_code == 409, conflict.text
    assert set(conflict.json()) == {"error"} and conflict.json()["error"]
    assert team.total() == 1
    again = team.create(BODY, headers=key)  # the original body still replays
    assert again.status_code == 200 and again.json()["task"]["id"] == first.json()["task"]["id"]


def test_different_keys_create_different_tasks(team: Client) -> None:
    a = team.create(BODY, headers={"Idempotency-Key": f"a-{uuid.uuid4()}"})
    b = team.create(BODY, headers={"Idempotency-Key": f"b-{uuid.uuid4()}"})
    c = team.create(BODY)  # no key: never deduplicated
    d = team.create(BODY)
    assert [r.status_code for r in (a, b, c, d)] == [201, 201, 201, 201]
    assert len({r.json()["task"]["id"] for r in (a, b, c, d)}) == 4
    assert team.total() == 4


def test_the_same_key_in_two_teams_is_two_tasks(team: Client, other_team: Client) -> None:
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    mine = team.create(BODY, headers=key)
    theirs = other_team.create(BODY, headers=key)
    assert mine.status_code == 201 and theirs.status_code == 201, (mine.text, theirs.text)
    assert mine.json()["task"]["id"] != theirs.json()["task"]["id"]
    assert theirs.json()["task"]["teamId"] == other_team.team
    assert team.total() == 1 and other_team.total() == 1


def test_a_rejected_body_does_not_use_up_the_key(team: Client) -> None:
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    bad = team.create({**BODY, "priority": 99}, headers=key)
    assert bad.status_code == 400
    good = team.create(BODY, headers=key)
    assert good.status_code == 201, good.text
    assert team.total() == 1


def test_an_overlong_key_is_400(team: Client) -> None:
    response = team.create(BODY, headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert team.total() == 0
