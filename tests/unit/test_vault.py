"""The Token Vault without AWS: which header values are references (model/tokens.py), what a token
may be (value and name limits, preview), the create-time check, and resolution in the executor:
the row read for every task, the decryption cached by ciphertext, rotation and deletion in effect
for the very next task, a missing token failing the task with no request made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from taskhook.config import Settings
from taskhook.container import Container
from taskhook.intake.tasks import TaskService
from taskhook.intake.validation import parse_create_request
from taskhook.intake.vault import VaultService
from taskhook.model.errors import Busy, Conflict, ValidationFailed
from taskhook.model.limits import MAX_TOKEN_VALUE_BYTES
from taskhook.model.outcome import Outcome
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.model.tokens import Reference, preview_of, reference_in
from taskhook.run.vault import TokenResolver, TokenUnavailable
from tests.support.fakes import (
    InMemoryCipher,
    InMemoryObjectStore,
    InMemoryPlanStore,
    InMemoryTaskRepository,
    InMemoryVaultStore,
)

TOK = "tok_0123456789abcdef01234567"
SECRET = "sk-live-0123456789-SECRET"


class CountingCipher(InMemoryCipher):
    def __init__(self) -> None:
        super().__init__()
        self.decrypts = 0

    def decrypt(self, ciphertext: bytes, context: Any) -> bytes:
        self.decrypts += 1
        return super().decrypt(ciphertext, context)


@pytest.fixture
def store() -> InMemoryVaultStore:
    return InMemoryVaultStore(cap=3)


@pytest.fixture
def cipher() -> CountingCipher:
    return CountingCipher()


@pytest.fixture
def vault(store: InMemoryVaultStore, cipher: CountingCipher) -> VaultService:
    return VaultService(store, cipher, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))


# ---- forms ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (TOK, Reference("", TOK)),
    (f"Bearer {TOK}", Reference("Bearer", TOK)),
    (f"Key {TOK}", Reference("Key", TOK)),
    ("tok_short", Reference("", "tok_short")),  # meant as one, names none: refused at create
    (f"Bearer tok_{'x' * 5}", Reference("Bearer", "tok_xxxxx")),
    (f"{TOK} extra", Reference("", f"{TOK} extra")),
    ("Bearer abc", None),
    ("Basic dXNlcjpwYXNz", None),
    (f"x-{TOK}", None),
    (f"Bearer  {TOK}", Reference("Bearer", TOK)),  # RFC 9110: one or more spaces (or tabs) after the scheme
    (f"Bearer\t{TOK}", Reference("Bearer", TOK)),
    (f"two words {TOK}", None),
    ("", None),
])
def test_which_values_are_references(value: str, expected: Reference | None) -> None:
    assert reference_in(value) == expected


def test_a_reference_keeps_its_scheme() -> None:
    assert Reference("Bearer", TOK).with_secret("s3cr3t") == "Bearer s3cr3t"
    assert Reference("", TOK).with_secret("s3cr3t") == "s3cr3t"
    assert Reference("", TOK).valid and not Reference("", "tok_nothex_nothex_nothex!").valid


@pytest.mark.parametrize(("value", "preview"), [
    ("r8_abcdefghijklmnopWXYZ", "****WXYZ"), ("12345678", "****78"), ("1234567", "****"), ("x", "****"),
])
def test_preview_shows_at_most_the_last_four(value: str, preview: str) -> None:
    assert preview_of(value) == preview


# ---- the API's rules ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    ({"name": "a"}, "value is required"),
    ({"value": SECRET}, "name is required"),
    ({"name": "a", "value": 12}, "value must be a string"),
    ({"name": "a", "value": "x" * (MAX_TOKEN_VALUE_BYTES + 1)}, f"at most {MAX_TOKEN_VALUE_BYTES} bytes"),
    ({"name": "a", "value": "é" * (MAX_TOKEN_VALUE_BYTES // 2 + 1)}, f"at most {MAX_TOKEN_VALUE_BYTES} bytes"),
    ({"name": "a", "value": "abc\r\nX-Injected: 1"}, "no control characters"),
    ({"name": "a", "value": "abc\x00"}, "no control characters"),
    ({"name": "a", "value": " abc"}, "white space"),
    ({"name": "a", "value": "abc "}, "white space"),
    ({"name": "a", "value": "emoji 🙂"}, "ISO-8859-1"),
    ({"name": "", "value": SECRET}, "name is required"),
    ({"name": "x" * 65, "value": SECRET}, "name must be 1 to 64"),
    ({"name": "a/b", "value": SECRET}, "name must be 1 to 64"),
    ({"name": "a", "value": SECRET, "extra": 1}, "Unknown field: extra"),
])
def test_bad_creates_are_400s_and_store_nothing(vault: VaultService, store: InMemoryVaultStore,
                                                body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        vault.create("team", body)
    assert store.list_for_team("team") == []


def test_the_largest_value_is_accepted(vault: VaultService) -> None:
    vault.create("team", {"name": "big", "value": "v" * MAX_TOKEN_VALUE_BYTES})


def test_names_unique_and_the_cap(vault: VaultService) -> None:
    vault.create("team", {"name": "One", "value": SECRET})
    with pytest.raises(Conflict):
        vault.create("team", {"name": "one", "value": SECRET})
    vault.create("team", {"name": "two", "value": SECRET})
    vault.create("team", {"name": "three", "value": SECRET})
    with pytest.raises(ValidationFailed, match="at most 3 tokens"):
        vault.create("team", {"name": "four", "value": SECRET})


def test_no_answer_carries_the_value(vault: VaultService) -> None:
    token = vault.create("team", {"name": "one", "value": SECRET})
    rotated = vault.rotate("team", token.id, {"value": SECRET + "-2"})
    for shown in (token.public(), rotated.public(), *[t.public() for t in vault.list("team")]):
        assert set(shown) == {"id", "name", "createdAt", "updatedAt", "preview", "hosts"}
        assert SECRET not in repr(shown) and SECRET.encode() not in token.sealed


# ---- create-time check ----------------------------------------------------------------------

def test_a_task_naming_an_unknown_or_foreign_token_is_refused(vault: VaultService) -> None:
    mine = vault.create("team-a", {"name": "one", "value": SECRET})
    theirs = vault.create("team-b", {"name": "one", "value": SECRET})
    repo = InMemoryTaskRepository()
    service = TaskService(repo, check_tokens=vault.check_references)
    ok = service.create("team-a", parse_create_request(
        {"targetUrl": "https://example.com", "headers": {"Authorization": f"Bearer {mine.id}", "X-Key": mine.id}}))
    assert ok.headers == {"Authorization": f"Bearer {mine.id}", "X-Key": mine.id}  # the reference is kept
    for value, shown in ((theirs.id, theirs.id), (f"Key {TOK}", TOK), ("tok_oops", "tok_oops")):
        with pytest.raises(ValidationFailed, match=f"^Unknown token {shown}$"):
            service.create("team-a", parse_create_request({"targetUrl": "https://example.com",
                                                           "headers": {"X": value}}))
    assert repo.writes == 1  # the refused ones stored nothing


# ---- resolution -----------------------------------------------------------------------------

def test_the_row_is_read_every_time_and_the_decryption_cached(vault: VaultService, store: InMemoryVaultStore,
                                                              cipher: CountingCipher) -> None:
    token = vault.create("team", {"name": "one", "value": SECRET})
    resolver = TokenResolver(store, cipher)
    reads = store.reads
    for _ in range(5):
        resolved = resolver.resolve("team", {"Authorization": f"Bearer {token.id}"}, "api.example.com")
        assert resolved == {"Authorization": f"Bearer {SECRET}"}
    assert store.reads - reads == 5
    assert cipher.decrypts == 1 == resolver.decryptions()

    vault.rotate("team", token.id, {"value": "rotated-value-9999"})  # the very next task uses it
    assert resolver.resolve("team", {"X": token.id}, "api.example.com") == {"X": "rotated-value-9999"}
    assert cipher.decrypts == 2

    vault.delete("team", token.id)
    with pytest.raises(TokenUnavailable, match=f"Token {token.id} not found"):
        resolver.resolve("team", {"X": token.id}, "api.example.com")


def test_a_ciphertext_copied_to_another_row_does_not_use_the_cache(vault: VaultService, store: InMemoryVaultStore,
                                                                   cipher: CountingCipher) -> None:
    a = vault.create("team", {"name": "a", "value": SECRET})
    b = vault.create("team", {"name": "b", "value": "bbbbbbbbbbbbbbbbbbbb"})
    resolver = TokenResolver(store, cipher)
    assert resolver.resolve("team", {"X": a.id}, "api.example.com") == {"X": SECRET}
    store.replace_value("team", b.id, a.sealed, b.preview, b.updated_at)  # a's ciphertext on b's row
    with pytest.raises(TokenUnavailable, match="could not be decrypted"):
        resolver.resolve("team", {"X": b.id}, "api.example.com")


def test_the_cache_is_bounded(vault: VaultService, store: InMemoryVaultStore, cipher: CountingCipher) -> None:
    tokens = [vault.create("team", {"name": f"t{i}", "value": f"value-{i}-xxxxxxxx"}) for i in range(3)]
    resolver = TokenResolver(store, cipher, cache_size=2)
    for token in tokens * 2:
        resolver.resolve("team", {"X": token.id}, "api.example.com")
    assert cipher.decrypts == 6  # round-robin over 3 with room for 2: every one a miss


def test_headers_without_references_cost_nothing(store: InMemoryVaultStore, cipher: CountingCipher) -> None:
    headers = {"Authorization": "Bearer plain"}
    assert TokenResolver(store, cipher).resolve("team", headers, "api.example.com") is headers
    assert store.reads == 0 and cipher.decrypts == 0


# ---- the executor's call --------------------------------------------------------------------

class RecordingSession:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.requests.append({"method": method, "url": url, **kwargs})
        raise requests.ConnectionError("no network in unit tests")


def _executor(store: InMemoryVaultStore, cipher: Any) -> tuple[Any, InMemoryTaskRepository, RecordingSession]:
    c = Container(Settings())
    repo, session = InMemoryTaskRepository(), RecordingSession()
    # No AWS: the fakes in place of the adapters the executor is built from (team plans: none).
    c.__dict__.update(task_repository=repo, outbound_sessions=lambda team: session, vault_store=store, cipher=cipher,
                      plan_store=InMemoryPlanStore(), object_store=InMemoryObjectStore())
    return c.executor, repo, session


def _task(repo: InMemoryTaskRepository, headers: dict[str, str]) -> Task:
    task = Task(id="t1", teamId="team", status=TaskStatus.PENDING, targetUrl="https://example.com/hook",
                headers=headers, createdAt="2026-01-01T00:00:00.000Z", maxRetries=3)
    repo.put_new(task)
    return task


def test_a_deleted_token_fails_the_task_with_no_request(vault: VaultService, store: InMemoryVaultStore,
                                                        cipher: CountingCipher) -> None:
    token = vault.create("team", {"name": "one", "value": SECRET})
    executor, repo, session = _executor(store, cipher)
    _task(repo, {"Authorization": f"Bearer {token.id}"})
    vault.delete("team", token.id)
    outcome: Outcome = executor.run("t1", lambda: 60.0, lambda s: None)
    stored = repo.get("t1")
    assert stored is not None and stored.status is TaskStatus.FAILED, outcome
    assert stored.error == f"Token {token.id} not found (deleted?): header Authorization not sent, no request made"
    assert session.requests == []
    assert stored.headers == {"Authorization": f"Bearer {token.id}"}


def test_the_request_carries_the_secret_and_the_task_keeps_the_reference(
        vault: VaultService, store: InMemoryVaultStore, cipher: CountingCipher) -> None:
    token = vault.create("team", {"name": "one", "value": SECRET})
    executor, repo, session = _executor(store, cipher)
    _task(repo, {"Authorization": f"Bearer {token.id}", "X-Raw": token.id})
    executor.run("t1", lambda: 60.0, lambda s: None)
    (sent,) = session.requests
    assert sent["headers"]["Authorization"] == f"Bearer {SECRET}" and sent["headers"]["X-Raw"] == SECRET
    assert sent["allow_redirects"] is False  # a redirect never carries the secret to another host
    stored = repo.get("t1")
    assert stored is not None and SECRET not in stored.model_dump_json()


class ThrottledCipher(InMemoryCipher):
    def decrypt(self, ciphertext: bytes, context: Any) -> bytes:
        raise Busy()


def test_a_throttled_vault_is_a_retry(vault: VaultService, store: InMemoryVaultStore) -> None:
    token = vault.create("team", {"name": "one", "value": SECRET})
    executor, repo, session = _executor(store, ThrottledCipher())
    _task(repo, {"X": token.id})
    outcome = executor.run("t1", lambda: 60.0, lambda s: None)
    stored = repo.get("t1")
    assert stored is not None and stored.status is TaskStatus.PENDING and stored.retryCount == 1
    assert not outcome.delete and session.requests == []


def test_a_redirect_is_not_followed_so_the_secret_goes_to_the_target_only(vault: VaultService,
                                                                          store: InMemoryVaultStore,
                                                                          cipher: CountingCipher) -> None:
    from taskhook.adapters.http import OutboundPolicy, call_target, guarded_session
    from tests.support.targets import TargetServer

    token = vault.create("team", {"name": "one", "value": SECRET})
    headers = TokenResolver(store, cipher).resolve("team", {"Authorization": f"Bearer {token.id}"}, "127.0.0.1")
    session = guarded_session(OutboundPolicy(allow=("127.0.0.0/8",)))
    with TargetServer() as elsewhere, TargetServer() as target:
        away = elsewhere.url("/steal", [200])
        url = target.url("/hook", [{"status": 302, "headers": {"Location": away}}])
        attempt = call_target(session, "POST", url, headers, "{}", 5)
    assert attempt.status_code == 302 and attempt.final  # the target's answer, recorded as it is
    assert target.calls("/hook")[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert elsewhere.calls("/steal") == []
