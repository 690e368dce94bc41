"""The TicketStore contract (ports.py), run against the in-memory fake and against the API keys table on
moto (adapters/dynamo/tickets.py): a ticket is taken once, whole; a key's row is never taken for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskhook.container import container
from taskhook.model.tickets import LiveTicket
from taskhook.ports import ApiKey, TicketStore
from tests.support.fakes import InMemoryTicketStore

TICKET = LiveTicket(team_id="team-a", credential_id="key_000000000001", client_id=None, expires_at=1_800_000_030)


@pytest.fixture(params=["memory", "dynamo"])
def tickets(request: pytest.FixtureRequest) -> Iterator[TicketStore]:
    if request.param == "memory":
        yield InMemoryTicketStore()
    else:
        request.getfixturevalue("aws")
        yield container().ticket_store


def test_a_ticket_is_taken_once_and_whole(tickets: TicketStore) -> None:
    tickets.put("hash-1", TICKET)
    assert tickets.take("hash-1") == TICKET
    assert tickets.take("hash-1") is None


def test_a_client_tokens_ticket_keeps_its_client(tickets: TicketStore) -> None:
    ticket = LiveTicket("team-a", "cli_000000000001", "cli_000000000001", 1_800_000_030)
    tickets.put("hash-2", ticket)
    assert tickets.take("hash-2") == ticket


def test_an_unknown_ticket_is_none(tickets: TicketStore) -> None:
    assert tickets.take("never-issued") is None


def test_a_keys_row_is_never_taken_for_a_ticket(aws: object) -> None:
    keys = container().api_key_repository
    key = ApiKey(key_id="key_000000000002", team_id="team-a", name="", created_at="2026-01-01T00:00:00.000Z")
    keys.put("hash-of-a-key", key)

    assert container().ticket_store.take("hash-of-a-key") is None

    assert keys.find_by_hash("hash-of-a-key") == key
