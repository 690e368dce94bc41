"""WebSocket tickets (model/tickets.py): issued for a credential (intake/live_tickets.py), stored only
as their hash, redeemed once within their lifetime by the key or token that asked, if it still holds
(notify/tickets.py)."""

from __future__ import annotations

import hashlib

import pytest

from taskhook.intake.live_tickets import LiveTicketService
from taskhook.model.errors import Unauthorized
from taskhook.notify.access import CredentialCheck
from taskhook.notify.live import Opener
from taskhook.notify.tickets import TicketRedeemer
from taskhook.ports import CLIENT_TOKEN_KIND, ApiKey
from tests.support.fakes import InMemoryApiKeyRepository, InMemoryTicketStore

URL = "wss://abc.execute-api.us-east-1.amazonaws.com/live"
KEY = ApiKey(key_id="key_000000000001", team_id="team-a", name="", created_at="2026-01-01T00:00:00.000Z",
             scope="tasks")
TOKEN = ApiKey(key_id="cli_000000000001", team_id="team-a", name="mobile", created_at="2026-01-01T00:00:00.000Z",
               kind=CLIENT_TOKEN_KIND, scope="tasks")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys() -> InMemoryApiKeyRepository:
    repo = InMemoryApiKeyRepository()
    repo.put("h1", KEY)
    repo.put("h2", TOKEN)
    return repo


@pytest.fixture
def store() -> InMemoryTicketStore:
    return InMemoryTicketStore()


def services(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository,
             clock: Clock) -> tuple[LiveTicketService, TicketRedeemer]:
    return (LiveTicketService(store, URL, clock=clock),
            TicketRedeemer(store, CredentialCheck(keys), clock=clock))


def test_a_ticket_is_stored_as_its_hash_and_opens_as_its_key(store: InMemoryTicketStore,
                                                            keys: InMemoryApiKeyRepository, clock: Clock) -> None:
    issue, redeem = services(store, keys, clock)

    answer = issue.issue(KEY)

    assert answer["ticket"].startswith("wst_") and len(answer["ticket"]) >= 4 + 43
    assert (answer["expiresIn"], answer["websocketUrl"]) == (30, URL)
    [(stored_hash, stored)] = store._by_hash.items()
    assert stored_hash == hashlib.sha256(answer["ticket"].encode()).hexdigest()
    assert answer["ticket"] not in repr(stored)
    assert redeem.redeem(answer["ticket"]) == Opener("team-a", KEY.key_id, None)


def test_a_ticket_opens_once(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository, clock: Clock) -> None:
    issue, redeem = services(store, keys, clock)
    ticket = issue.issue(KEY)["ticket"]
    redeem.redeem(ticket)
    with pytest.raises(Unauthorized, match="Invalid, used or expired ticket"):
        redeem.redeem(ticket)


@pytest.mark.parametrize(("waited", "opens"), [(28.9, True), (30.0, False), (31, False)])
def test_a_ticket_lives_thirty_seconds(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository, clock: Clock,
                                       waited: float, opens: bool) -> None:
    issue, redeem = services(store, keys, clock)
    clock.now = 1_800_000_000.0  # a whole second: the ticket's 30 s are whole seconds
    ticket = issue.issue(KEY)["ticket"]
    clock.now += waited
    if opens:
        assert redeem.redeem(ticket).credential_id == KEY.key_id
    else:
        with pytest.raises(Unauthorized):
            redeem.redeem(ticket)


def test_a_client_tokens_ticket_opens_as_its_client(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository,
                                                    clock: Clock) -> None:
    issue, redeem = services(store, keys, clock)
    assert redeem.redeem(issue.issue(TOKEN)["ticket"]) == Opener("team-a", TOKEN.key_id, TOKEN.key_id)


def test_the_ticket_of_a_revoked_key_is_refused(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository,
                                                clock: Clock) -> None:
    issue, redeem = services(store, keys, clock)
    ticket = issue.issue(KEY)["ticket"]
    keys.revoke(KEY.key_id, "2026-01-02T00:00:00.000Z")
    with pytest.raises(Unauthorized, match="Invalid or revoked API key"):
        redeem.redeem(ticket)


@pytest.mark.parametrize("ticket", ["", "wst_", "wst_unknown", "th_abc", "ct_abc"])
def test_anything_else_is_refused(store: InMemoryTicketStore, keys: InMemoryApiKeyRepository, clock: Clock,
                                  ticket: str) -> None:
    _, redeem = services(store, keys, clock)
    with pytest.raises(Unauthorized):
        redeem.redeem(ticket)
