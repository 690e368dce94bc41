"""The Chalice app called in process (chalice.test.Client) with a team's key: the functional tests'
way to exercise a route end to end on moto without a server."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

import app as lambdas
from taskhook.container import container


class ApiClient:
    def __init__(self, team: str) -> None:
        self.team = team
        self.key, _ = container().api_key_service.create(team, name="api client")

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        sent = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **(headers or {})}
        raw = b"" if body is None else json.dumps(body).encode()
        with Client(lambdas.app) as client:
            response = client.http.request(method, path, headers=sent, body=raw)
        return response.status_code, json.loads(response.body or b"{}")
