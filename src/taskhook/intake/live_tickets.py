"""`POST /v1/live/tickets`: a single-use WebSocket ticket for the credential that asks (an API key of
either scope, or a client token: the ticket sees what that credential sees), and `GET /v1/live`'s
WebSocket URL. The ticket is returned once and stored only as its SHA-256 (model/tickets.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskhook.model.tickets import TICKET_PREFIX, TICKET_SECONDS, LiveTicket, ticket_hash
from taskhook.ports import CLIENT_TOKEN_KIND, ApiKey, TicketStore


@dataclass
class LiveTicketService:
    store: TicketStore
    websocket_url: str  # where a client connects (Settings.websocket_url): ws:// locally, wss:// on AWS
    clock: Callable[[], float] = time.time

    def issue(self, credential: ApiKey) -> dict[str, Any]:
        """`{"ticket", "expiresIn", "websocketUrl"}` for `credential` (already authenticated)."""
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        client_id = credential.key_id if credential.kind == CLIENT_TOKEN_KIND else None
        expires_at = int(self.clock()) + TICKET_SECONDS
        self.store.put(ticket_hash(ticket), LiveTicket(credential.team_id, credential.key_id, client_id, expires_at))
        return {"ticket": ticket, "expiresIn": TICKET_SECONDS, "websocketUrl": self.websocket_url}

    def where(self) -> dict[str, Any]:
        return {"websocketUrl": self.websocket_url}
