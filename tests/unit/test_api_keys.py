"""API keys: `th_` bearer secrets, stored only as a hash, each bound to one team."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest

from taskhook.intake.api_keys import ApiKeyService, hash_key
from taskhook.intake.client_tokens import ClientTokenService
from taskhook.model.errors import NotFound, Unauthorized, ValidationFailed
from taskhook.ports import ApiKey
from tests.support.fakes import InMemoryApiKeyRepository

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
REQUIRED = "API key required"
INVALID = "Invalid or revoked API key"
BAD_TEAM = "team must be 1-64 letters, digits, '.', '_' or '-'"


class RecordingRepository(InMemoryApiKeyRepository):
    """The in-memory fake, also keeping every (hash, key) it was asked to store."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: list[tuple[str, ApiKey]] = []

    def put(self, key_hash: str, key: ApiKey) -> None:
        self.puts.append((key_hash, key))
        super().put(key_hash, key)


@pytest.fixture
def repo() -> RecordingRepository:
    return RecordingRepository()


@pytest.fixture
def service(repo: RecordingRepository) -> ApiKeyService:
    return ApiKeyService(repository=repo, clock=lambda: NOW)


def unauthorized(service: ApiKeyService, header: str | None) -> str:
    with pytest.raises(Unauthorized) as info:
        service.authenticate(header)
    assert info.value.status_code == 401
    return info.value.message


# ---------------------------------------------------------------------------------------------
# create


def test_create_returns_a_th_secret_and_the_key(service: ApiKeyService) -> None:
    secret, key = service.create("team-a", name="ci")

    assert secret.startswith("th_")
    assert len(secret) >= 3 + 43  # 32 random bytes, base64url
    assert key == ApiKey(key_id=key.key_id, team_id="team-a", name="ci", created_at="2024-01-15T10:30:00.000Z",
                      scope="tasks")
    assert key.key_id.startswith("key_")
    assert key.revoked_at is None


def test_only_the_hash_of_the_secret_is_stored(service: ApiKeyService, repo: RecordingRepository) -> None:
    secret, key = service.create("team-a", name="ci")

    assert len(repo.puts) == 1
    stored_hash, stored_key = repo.puts[0]
    assert stored_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_key(secret)
    assert stored_key == key
    random_part = secret.removeprefix("th_")
    stored_text = [stored_hash, repr(stored_key), *map(str, dataclasses.asdict(stored_key).values())]
    for text in stored_text + list(repo._by_hash):
        assert secret not in text
        assert random_part not in text


def test_each_key_is_a_fresh_secret(service: ApiKeyService) -> None:
    first, first_key = service.create("team-a")
    second, second_key = service.create("team-a")
    assert first != second
    assert first_key.key_id != second_key.key_id


def test_create_with_a_given_secret_uses_it(service: ApiKeyService) -> None:
    # e.g. the local stack's TASKHOOK_DEV_API_KEY
    secret, key = service.create("dev", secret="th_dev-secret")
    assert secret == "th_dev-secret"
    assert service.authenticate("Bearer th_dev-secret") == key


@pytest.mark.parametrize(
    "team", ["a", "A" * 64, "team-1", "team_1.prod", "550e8400-e29b-41d4-a716-446655440000", "0team"]
)
def test_valid_team_ids(service: ApiKeyService, team: str) -> None:
    assert service.create(team)[1].team_id == team


@pytest.mark.parametrize(
    "team",
    ["", " ", "has space", "-leading-dash", ".leading-dot", "_leading", "a" * 65, "team/1", "tëam", "a:b", "\nteam"],
)
def test_invalid_team_id_is_rejected_and_nothing_stored(
    service: ApiKeyService, repo: RecordingRepository, team: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        service.create(team)
    assert (info.value.status_code, info.value.message) == (400, BAD_TEAM)
    assert repo.puts == []


def test_team_id_with_trailing_newline_is_rejected(service: ApiKeyService) -> None:
    with pytest.raises(ValidationFailed):
        service.create("team-a\n")


def test_keys_are_listed_per_team(service: ApiKeyService, repo: RecordingRepository) -> None:
    _, a1 = service.create("team-a")
    _, a2 = service.create("team-a")
    _, b1 = service.create("team-b")
    assert {k.key_id for k in repo.list_for_team("team-a")} == {a1.key_id, a2.key_id}
    assert repo.list_for_team("team-b") == [b1]


# ---------------------------------------------------------------------------------------------
# authenticate


@pytest.mark.parametrize("template", ["Bearer {}", "bearer {}", "BEARER {}", "  Bearer   {}  "])
def test_bearer_secret_authenticates_to_its_key(service: ApiKeyService, template: str) -> None:
    secret, key = service.create("team-a")
    service.create("team-b")
    assert service.authenticate(template.format(secret)) == key


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "Bearer", "Bearer ", "Bearer    ", "Basic x", "Basic dXNlcjpwYXNz", "Token th_abc", "th_abc"],
)
def test_missing_or_non_bearer_header_is_api_key_required(service: ApiKeyService, header: str | None) -> None:
    service.create("team-a")
    assert unauthorized(service, header) == REQUIRED


@pytest.mark.parametrize("header", ["Bearer th_unknown", "Bearer not-a-key", "Bearer th_"])
def test_unknown_key_is_invalid(service: ApiKeyService, header: str) -> None:
    service.create("team-a")
    assert unauthorized(service, header) == INVALID


def test_secret_must_match_exactly(service: ApiKeyService) -> None:
    secret, _ = service.create("team-a")
    for almost in (secret[:-1], secret + "x", secret.upper(), secret.removeprefix("th_")):
        assert unauthorized(service, f"Bearer {almost}") == INVALID


def test_revoked_key_is_invalid_and_other_keys_still_work(service: ApiKeyService) -> None:
    secret, key = service.create("team-a")
    other_secret, other_key = service.create("team-a")

    revoked = service.revoke(key.key_id)

    assert revoked.revoked_at == "2024-01-15T10:30:00.000Z"
    assert dataclasses.replace(revoked, revoked_at=None) == key
    assert unauthorized(service, f"Bearer {secret}") == INVALID
    assert service.authenticate(f"Bearer {other_secret}") == other_key


def test_revoking_an_unknown_key_is_not_found(service: ApiKeyService) -> None:
    with pytest.raises(NotFound) as info:
        service.revoke("key_000000000000")
    assert info.value.message == "API key not found"


def test_a_revocation_is_stored_first_then_handed_on_once(repo: RecordingRepository) -> None:
    """What else a revocation stops (the live connections the key opened) hears of it with the
    revoked key, after the row says revoked; an unknown key hands nothing on."""
    handed: list[ApiKey] = []

    def on_revoke(key: ApiKey) -> None:
        assert repo.find_by_id(key.key_id) == key  # already stored as revoked
        handed.append(key)

    service = ApiKeyService(repository=repo, clock=lambda: NOW, on_revoke=on_revoke)
    _, key = service.create("team-a")

    revoked = service.revoke(key.key_id)
    with pytest.raises(NotFound):
        service.revoke("key_000000000000")

    assert handed == [revoked] and revoked.revoked_at


def test_a_client_tokens_revocation_is_handed_on_too(repo: RecordingRepository) -> None:
    handed: list[ApiKey] = []
    tokens = ClientTokenService(repository=repo, clock=lambda: NOW, on_revoke=handed.append)
    _, token = tokens.create("team-a", "mobile")

    revoked = tokens.revoke(token.key_id)
    with pytest.raises(NotFound):
        tokens.revoke("key_not_a_token")

    assert handed == [revoked] and revoked.kind == "client"


# ---------------------------------------------------------------------------------------------
# scopes (issue 16): tasks by default, admin on request; a client token is no key


def test_a_new_key_is_tasks_scoped_unless_asked(service: ApiKeyService) -> None:
    assert service.create("team-a")[1].scope == "tasks"
    assert service.create("team-a", scope="admin")[1].scope == "admin"


def test_an_unknown_scope_is_refused_and_nothing_stored(service: ApiKeyService, repo: RecordingRepository) -> None:
    with pytest.raises(ValidationFailed, match="scope must be one of: admin, tasks"):
        service.create("team-a", scope="root")
    assert repo.puts == []


def test_only_an_admin_key_may_manage_the_team(service: ApiKeyService, repo: RecordingRepository) -> None:
    from taskhook.intake.api_keys import require_admin
    from taskhook.model.errors import AccessDenied

    admin = service.create("team-a", scope="admin")[1]
    assert require_admin(admin) is admin
    with pytest.raises(AccessDenied, match=r"This key is not allowed to manage the team \(scope: tasks\)"):
        require_admin(service.create("team-a")[1])
    token = ClientTokenService(repository=repo, clock=lambda: NOW).create("team-a", "mobile")[1]
    with pytest.raises(AccessDenied):
        require_admin(dataclasses.replace(token, scope="admin"))  # a client token never manages, whatever it says


def test_a_client_token_as_bearer_is_identified_but_not_an_api_key(service: ApiKeyService,
                                                                  repo: RecordingRepository) -> None:
    from taskhook.model.errors import AccessDenied

    secret, token = ClientTokenService(repository=repo, clock=lambda: NOW).create("team-a", "mobile")
    assert service.identify(f"Bearer {secret}") == token
    with pytest.raises(AccessDenied, match="A client token can only read its client's tasks"):
        service.authenticate(f"Bearer {secret}")
    with pytest.raises(Unauthorized, match="Invalid or revoked client token"):
        service.identify("Bearer ct_" + "x" * 43)


def test_a_team_revokes_its_own_keys_only(service: ApiKeyService, repo: RecordingRepository) -> None:
    revoked: list[ApiKey] = []
    service.on_revoke = revoked.append
    mine = service.create("team-a")[1]
    theirs = service.create("team-b")[1]
    token = ClientTokenService(repository=repo, clock=lambda: NOW).create("team-a", "mobile")[1]
    for key_id in (theirs.key_id, token.key_id, "key_unknown"):
        with pytest.raises(NotFound, match="API key not found"):
            service.revoke_of_team("team-a", key_id)
    assert revoked == []
    assert service.revoke_of_team("team-a", mine.key_id).revoked_at
    assert [k.key_id for k in revoked] == [mine.key_id]  # its live connections are ended, as the CLI's
