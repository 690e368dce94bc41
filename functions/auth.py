"""Who is calling: every authenticated REST route starts here (one place for the API key check and,
after it, the team's rate limit)."""

from __future__ import annotations

from typing import Any

from taskhook.container import container
from taskhook.ports import ApiKey

from .responses import add_answer_headers


def authenticated(request: Any) -> ApiKey:
    """The API key of `request`'s `Authorization: Bearer …` header (401 otherwise), once its team's
    rate limit admitted the request (429 otherwise; intake/rate_limit.py). Every route calls this
    before it does anything else, so a refused request changes nothing."""
    key = container().api_key_service.authenticate(request.headers.get("authorization"))
    add_answer_headers(container().rate_gate.check(key.team_id))
    return key
