"""WebSocket tickets: what a browser opens the live feed with instead of a key in a URL (a URL ends
up in logs). A ticket is asked for with a credential (`POST /v1/live/tickets`, intake/live_tickets.py),
lives TICKET_SECONDS, is stored only as its SHA-256 and is taken, once, by the WebSocket's
`$connect` (notify/tickets.py): a second connect with the same ticket finds nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

TICKET_PREFIX = "wst_"  # noqa: S105 - a prefix, not a secret
TICKET_SECONDS = 30
TICKET_KIND = "ticket"  # the row's kind in the API keys table (ports.API_KEY_KIND's neighbours)


def ticket_hash(ticket: str) -> str:
    # 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LiveTicket:
    """Who asked for a ticket: the team, the id of the key or client token (never its secret),
    the client a client token stands for, and when the ticket stops being good (epoch seconds)."""

    team_id: str
    credential_id: str
    client_id: str | None
    expires_at: int  # whole seconds: the TTL attribute's unit
