"""Webhook signing secrets asked for at once through the local stack (issue 11 review): 16 first
`GET /v1/webhooks/secret` of one team hand out one secret, and rotations at once all stay in force."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import Client


def at_once(team: Client, count: int, method: str, path: str) -> list[requests.Response]:
    start = threading.Barrier(count)

    def call() -> requests.Response:
        own = Client(team.url, team.key)  # a session per thread
        start.wait()
        return own.request(method, path)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [f.result() for f in [pool.submit(call) for _ in range(count)]]


def secrets_of(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["secret"] for s in response.json()["secrets"]]


def test_sixteen_first_reads_at_once_hand_out_one_secret(team: Client) -> None:
    shown = [secrets_of(r) for r in at_once(team, 16, "GET", "/v1/webhooks/secret")]

    assert len({tuple(s) for s in shown}) == 1
    assert secrets_of(team.request("GET", "/v1/webhooks/secret")) == shown[0]


def test_four_rotations_at_once_all_stay_in_force(team: Client) -> None:
    (first,) = secrets_of(team.request("GET", "/v1/webhooks/secret"))

    rotated = [secrets_of(r) for r in at_once(team, 4, "POST", "/v1/webhooks/secret/rotate")]

    stored = secrets_of(team.request("GET", "/v1/webhooks/secret"))
    assert set(stored) == {r[0] for r in rotated} | {first}
    assert sorted(len(r) for r in rotated) == [2, 3, 4, 5]
    assert max(rotated, key=len) == stored  # each caller returned the list it stored, the last one in force
