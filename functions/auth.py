"""Who is calling: every authenticated REST route starts here (one place for the API key check and,
after it, the team's rate limit)."""

from __future__ import annotations

from typing import Any

from taskhook.container import container
from taskhook.ports import ApiKey


def authenticated(request: Any) -> ApiKey:
    """The API key of `request`'s `Authorization: Bearer …` header (401 otherwise)."""
    return container().api_key_service.authenticate(request.headers.get("authorization"))
