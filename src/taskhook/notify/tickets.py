"""A WebSocket `$connect` with `?ticket=wst_…` (model/tickets.py): the ticket is taken (one atomic
conditional delete: a second connect with the same ticket finds nothing), must not have expired,
and the key or client token that asked for it is read again, as a connection's credential is
(notify/access.py CredentialCheck): a ticket of a key revoked since is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from taskhook.model.errors import Unauthorized
from taskhook.model.tickets import TICKET_PREFIX, ticket_hash
from taskhook.notify.access import CredentialCheck, revoked_error
from taskhook.notify.live import Opener
from taskhook.ports import TicketStore

INVALID_TICKET = "Invalid, used or expired ticket"  # noqa: S105 - a message, not a secret


@dataclass
class TicketRedeemer:
    store: TicketStore
    credentials: CredentialCheck
    clock: Callable[[], float] = time.time

    def redeem(self, ticket: str) -> Opener:
        """Who opens the connection: the ticket's team, credential and client (401 otherwise)."""
        found = self.store.take(ticket_hash(ticket)) if ticket.startswith(TICKET_PREFIX) else None
        if found is None or found.expires_at <= self.clock():
            raise Unauthorized(INVALID_TICKET)
        opener = Opener(found.team_id, found.credential_id, found.client_id)
        if not self.credentials.holds(opener, fresh=True):
            raise revoked_error(opener)
        return opener
