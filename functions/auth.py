"""Who is calling: every authenticated REST route starts here (one place for the credential check,
then the team's rate limit, then what the credential may do).

- `authenticated`: the task routes. An API key of either scope; a client token is 403.
- `administrator`: the admin routes (keys, client tokens, the webhook secret, the vault, the
  limits). An API key of the admin scope; a tasks key is 403, so a leaked task key cannot mint keys.
- `reader`: the two task reads (`GET /v1/tasks`, `GET /v1/tasks/{id}`) and live tickets. An API key
  of either scope, or a client token, which sees only its client's tasks.

The rate limit counts every request whose credential is known, a refused one too: a key hammering
a route it may not use is slowed like any other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskhook.container import container
from taskhook.intake.api_keys import require_admin
from taskhook.model.errors import CLIENT_TOKEN_READS_ONLY, AccessDenied
from taskhook.ports import CLIENT_TOKEN_KIND, ApiKey

from .responses import add_answer_headers


@dataclass(frozen=True)
class Reader:
    """Who reads tasks: a team, and for a client token the one client (its token id, the tasks'
    `clientId`) whose tasks alone it sees."""

    credential: ApiKey

    @property
    def team_id(self) -> str:
        return self.credential.team_id

    @property
    def client_id(self) -> str | None:
        return self.credential.key_id if self.credential.kind == CLIENT_TOKEN_KIND else None


def _identified(request: Any) -> ApiKey:
    credential = container().api_key_service.identify(request.headers.get("authorization"))
    add_answer_headers(container().rate_gate.check(credential.team_id))
    return credential


def authenticated(request: Any) -> ApiKey:
    """The API key of `request`'s `Authorization: Bearer …` header (401 otherwise), once its team's
    rate limit admitted the request (429 otherwise; intake/rate_limit.py); a client token is 403.
    Every route calls this (or one below) before it does anything else, so a refused request
    changes nothing."""
    credential = _identified(request)
    if credential.kind == CLIENT_TOKEN_KIND:
        raise AccessDenied(CLIENT_TOKEN_READS_ONLY)
    return credential


def administrator(request: Any) -> ApiKey:
    """An API key of the admin scope (403 for a tasks key or a client token)."""
    return require_admin(authenticated(request))


def reader(request: Any) -> Reader:
    """An API key of either scope or a client token: who may read tasks."""
    return Reader(_identified(request))
