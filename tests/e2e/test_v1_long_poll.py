"""`GET /v1/tasks/{id}?wait=N`: held until the status changes or N seconds pass."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tests.support.targets import TargetServer

from .conftest import FAR_FUTURE, Client, Stack, park_pending

URL = "https://api.example.com/webhook"


def timed_get(client: Client, task_id: str, wait: int) -> tuple[requests.Response, float]:
    start = time.monotonic()
    response = client.get(task_id, wait=wait)
    return response, time.monotonic() - start


def test_wait_on_an_unchanging_pending_task_returns_it_unchanged_after_the_wait(
        shared: Client, target: TargetServer) -> None:
    task = park_pending(shared, target)

    response, elapsed = timed_get(shared, task["id"], 3)

    assert response.status_code == 200, response.text
    assert response.json()["task"] == task
    assert 2.5 <= elapsed < 15, elapsed


def test_wait_on_a_delayed_task_returns_it_unchanged_after_the_wait(shared: Client) -> None:
    task = shared.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})

    response, elapsed = timed_get(shared, task["id"], 3)

    assert response.status_code == 200, response.text
    assert response.json()["task"] == task
    assert 2.5 <= elapsed < 15, elapsed


def test_wait_returns_early_when_the_task_is_cancelled_meanwhile(shared: Client, target: TargetServer) -> None:
    task = park_pending(shared, target)
    cancelled: dict[str, Any] = {}
    other_connection = Client(shared.url, shared.key)  # a second client, as another process would be

    def cancel_soon() -> None:
        time.sleep(1.0)
        cancelled["response"] = other_connection.cancel(task["id"])

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    try:
        response, elapsed = timed_get(shared, task["id"], 10)
    finally:
        canceller.join(timeout=30)

    assert cancelled["response"].status_code == 200, cancelled["response"].text
    assert response.status_code == 200, response.text
    assert response.json()["task"]["status"] == "cancelled"
    assert response.json()["task"]["completedAt"]
    assert elapsed < 10, elapsed
    assert elapsed >= 0.9, "it answered before the change happened"


def test_wait_on_a_finished_task_returns_at_once(shared: Client) -> None:
    task = shared.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})
    assert shared.cancel(task["id"]).status_code == 200

    response, elapsed = timed_get(shared, task["id"], 10)

    assert response.status_code == 200
    assert response.json()["task"]["status"] == "cancelled"
    assert elapsed < 5, elapsed


def test_wait_zero_answers_at_once(shared: Client) -> None:
    task = shared.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})
    response, elapsed = timed_get(shared, task["id"], 0)
    assert response.status_code == 200 and response.json()["task"] == task
    assert elapsed < 5, elapsed


def test_wait_above_25_is_400(shared: Client) -> None:
    task = shared.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})
    response, elapsed = timed_get(shared, task["id"], 26)
    assert response.status_code == 400
    assert response.json() == {"error": "wait must be a number between 0 and 25"}
    assert elapsed < 5, elapsed


def test_a_long_poll_whose_key_is_revoked_meanwhile_answers_401_not_the_task(stack: Stack, team: Client) -> None:
    """A revoked key reads nothing, not even through a long poll it opened before: the change that
    ended the wait was written after the revocation (attacker review)."""
    key = stack.create_key(team.team, name="revoked-while-waiting")
    waiting = Client(team.url, key["apiKey"])
    task = team.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})
    answers: list[requests.Response] = []
    poll = threading.Thread(target=lambda: answers.append(waiting.get(task["id"], wait=10)))
    poll.start()
    time.sleep(1.0)  # the poll is waiting
    stack.revoke_key(key["keyId"])
    assert team.request("POST", f"/v1/tasks/{task['id']}/cancel").status_code == 200
    poll.join(30)
    assert len(answers) == 1
    assert answers[0].status_code == 401, answers[0].text
    assert answers[0].json() == {"error": "Invalid or revoked API key"}


def test_one_team_s_long_polls_do_not_hold_up_another_team(stack: Stack, team: Client) -> None:
    """The local API runs 64 requests at once (TASKHOOK_API_CONCURRENCY); 70 long polls of one team
    filled them, and another team's list waited for their ends (attacker review). Long polls have
    their own slots: the other team's request is answered while every one of them still waits."""
    task = team.create_ok({"targetUrl": URL, "delayUntil": FAR_FUTURE})
    answered: list[int] = []
    polls = [threading.Thread(target=lambda: answered.append(Client(team.url, team.key).get(task["id"],
                                                                                          wait=10).status_code))
             for _ in range(70)]
    for poll in polls:
        poll.start()
    time.sleep(2.0)  # every poll is in and waiting
    other = stack.new_team()
    assert other.request("GET", "/v1/tasks?limit=1").status_code == 200
    assert answered == []  # answered while all 70 still waited
    for poll in polls:
        poll.join(60)
    assert answered == [200] * 70
