"""The VaultStore contract, run against the in-memory fake and against DynamoDB on moto (with KMS
sealing the values, as the API does): names unique per team, the cap, rotation and deletion,
teams apart, creates at once; and on moto, what the table holds: ciphertext bound to its row."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from taskhook.adapters.dynamo.vault import DynamoVaultStore
from taskhook.container import container
from taskhook.intake.vault import VaultService
from taskhook.model.errors import Conflict, NotFound, Undecryptable, ValidationFailed
from taskhook.model.tokens import seal_context
from taskhook.ports import Cipher, VaultStore
from taskhook.run.vault import TokenResolver, TokenUnavailable
from tests.support.fakes import InMemoryCipher, InMemoryVaultStore

from .conftest import Provisioned

SECRET = "r8_SuperSecretReplicateKey0123456789"
CAP = 5
HOST = "api.replicate.com"


@pytest.fixture(params=["memory", "dynamodb"])
def parts(request: pytest.FixtureRequest) -> tuple[VaultStore, Cipher]:
    if request.param == "memory":
        return InMemoryVaultStore(cap=CAP), InMemoryCipher()
    request.getfixturevalue("aws")
    cfg = container().settings
    return DynamoVaultStore(OneWriteAtATime(container().client("dynamodb")), cfg.vault_table, cap=CAP), \
        container().cipher


class OneWriteAtATime:
    """The boto3 client with its writes one at a time: DynamoDB applies each transaction atomically;
    moto in-process does not (threads at once corrupt its tables: "dictionary changed size during
    iteration"), which is why the local stack's emulator serialises DynamoDB writes
    (infra/emulator.py AtomicDynamoWrites). The same here, so that creates at once interleave as
    they do on DynamoDB: each conditional transaction sees the writes made before it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in ("transact_write_items", "update_item", "put_item", "delete_item"):
            return method

        def serialised(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return serialised


@pytest.fixture
def service(parts: tuple[VaultStore, Cipher]) -> VaultService:
    return VaultService(*parts)


def test_a_created_token_is_listed_read_and_resolved(service: VaultService, parts: tuple[VaultStore, Cipher]) -> None:
    token = service.create("team-a", {"name": "replicate", "value": SECRET})
    assert token.id.startswith("tok_") and token.preview == "****6789"
    assert [t.public() for t in service.list("team-a")] == [token.public()]
    assert service.get("team-a", token.id).public() == token.public()
    resolver = TokenResolver(*parts)
    headers = {"Authorization": f"Bearer {token.id}"}
    assert resolver.resolve("team-a", headers, HOST) == {"Authorization": f"Bearer {SECRET}"}


def test_names_are_unique_per_team_regardless_of_case(service: VaultService) -> None:
    service.create("team-a", {"name": "Replicate", "value": SECRET})
    with pytest.raises(Conflict, match="A token named replicate already exists"):
        service.create("team-a", {"name": "replicate", "value": "other-value-123"})
    service.create("team-b", {"name": "replicate", "value": SECRET})  # another team: its own names
    assert len(service.list("team-a")) == 1


def test_the_cap_is_a_400_and_deleting_one_makes_room(service: VaultService) -> None:
    made = [service.create("team-a", {"name": f"t{i}", "value": SECRET}) for i in range(CAP)]
    with pytest.raises(ValidationFailed, match=f"at most {CAP} tokens"):
        service.create("team-a", {"name": "one-more", "value": SECRET})
    assert len(service.list("team-a")) == CAP
    service.delete("team-a", made[0].id)
    service.create("team-a", {"name": "t0", "value": SECRET})  # room again, and the deleted one's name is free
    with pytest.raises(ValidationFailed, match=f"at most {CAP} tokens"):
        service.create("team-a", {"name": "one-more", "value": SECRET})


def test_another_teams_token_is_not_found(service: VaultService) -> None:
    token = service.create("team-a", {"name": "fal", "value": SECRET})
    with pytest.raises(NotFound):
        service.get("team-b", token.id)
    with pytest.raises(NotFound):
        service.rotate("team-b", token.id, {"value": "x" * 20})
    with pytest.raises(NotFound):
        service.delete("team-b", token.id)
    with pytest.raises(ValidationFailed, match=f"Unknown token {token.id}"):
        service.check_references("team-b", {"Authorization": f"Key {token.id}"}, HOST)
    assert service.get("team-a", token.id).preview == token.preview


def test_rotation_and_deletion_take_effect_for_the_next_resolution(service: VaultService,
                                                                   parts: tuple[VaultStore, Cipher]) -> None:
    resolver = TokenResolver(*parts)
    token = service.create("team-a", {"name": "fal", "value": SECRET})
    assert resolver.resolve("team-a", {"X": token.id}, HOST) == {"X": SECRET}
    service.rotate("team-a", token.id, {"value": "the-new-value-0000"})
    assert resolver.resolve("team-a", {"X": token.id}, HOST) == {"X": "the-new-value-0000"}
    service.delete("team-a", token.id)
    with pytest.raises(Exception, match=f"Token {token.id} not found"):
        resolver.resolve("team-a", {"X": token.id}, HOST)


@pytest.mark.parametrize("distinct", [False, True], ids=["same-name", "distinct-names"])
def test_creates_at_once_keep_names_unique_and_the_cap(service: VaultService, distinct: bool) -> None:
    def create(i: int) -> str:
        try:
            service.create("team-c", {"name": f"n{i}" if distinct else "same", "value": SECRET})
            return "created"
        except Conflict:
            return "conflict"
        except ValidationFailed:
            return "cap"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(create, range(16)))
    stored = service.list("team-c")
    if distinct:
        assert answers.count("created") == CAP == len(stored)
        assert answers.count("cap") == 16 - CAP
    else:
        assert answers.count("created") == 1 == len(stored)
        assert answers.count("conflict") == 15


def _vault_items(aws: Provisioned) -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    return list(client.scan(TableName=aws.env["VAULT_TABLE"])["Items"])


def test_the_table_holds_ciphertext_bound_to_team_and_token(aws: Provisioned) -> None:
    service = container().vault_service
    a = service.create("team-a", {"name": "one", "value": SECRET})
    b = service.create("team-a", {"name": "two", "value": "another-secret-value-42"})
    items = _vault_items(aws)
    assert SECRET not in repr(items) and SECRET.encode() not in b"".join(
        i["sealed"]["B"] for i in items if "sealed" in i)
    counter = [i for i in items if i["id"]["S"] == "#count"]
    assert counter[0]["tokens"]["N"] == "2"
    # b's ciphertext copied onto a's row (or read as another team's) does not decrypt.
    cipher = container().cipher
    with pytest.raises(Undecryptable):
        cipher.decrypt(b.sealed, seal_context("team-a", a.id))
    with pytest.raises(Undecryptable):
        cipher.decrypt(a.sealed, seal_context("team-b", a.id))
    client = aws.client("dynamodb")
    client.update_item(TableName=aws.env["VAULT_TABLE"], Key={"teamId": {"S": "team-a"}, "id": {"S": a.id}},
                       UpdateExpression="SET sealed = :s", ExpressionAttributeValues={":s": {"B": b.sealed}})
    with pytest.raises(Exception, match="could not be decrypted"):
        container().token_resolver.resolve("team-a", {"Authorization": f"Bearer {a.id}"}, HOST)


# ---- a token bound to hosts (attacker review: any tasks key could send any token to its own server)


def test_a_token_bound_to_hosts_is_resolved_only_for_them(parts: tuple[VaultStore, Cipher]) -> None:
    store, cipher = parts
    service, resolver = VaultService(store, cipher), TokenResolver(store, cipher)
    token = service.create("team-a", {"name": "replicate", "value": SECRET,
                                      "hosts": ["API.Replicate.com.", "api.replicate.com", "[::1]"]})
    assert token.public()["hosts"] == ["api.replicate.com", "::1"]  # canonical, once each
    assert store.get("team-a", token.id).hosts == ("api.replicate.com", "::1")  # as stored
    headers = {"Authorization": f"Bearer {token.id}"}
    assert resolver.resolve("team-a", headers, HOST) == {"Authorization": f"Bearer {SECRET}"}
    with pytest.raises(TokenUnavailable, match=f"^Token {token.id} may not be sent to evil.example: it is bound "
                                               "to other hosts: header Authorization not sent, no request made$"):
        resolver.resolve("team-a", headers, "evil.example")
    service.check_references("team-a", headers, HOST)
    with pytest.raises(ValidationFailed, match=f"^Token {token.id} may not be sent to 127.0.0.1: it is bound"):
        service.check_references("team-a", headers, "127.0.0.1")

    rebound = service.rotate("team-a", token.id, {"hosts": None})  # any host again; the value unchanged
    assert rebound.hosts is None and rebound.public()["hosts"] is None and rebound.preview == token.preview
    assert resolver.resolve("team-a", headers, "evil.example") == {"Authorization": f"Bearer {SECRET}"}
    both = service.rotate("team-a", token.id, {"value": "r8_the_next_value_0000", "hosts": ["x.example"]})
    assert both.hosts == ("x.example",) and both.preview == "****0000"
    assert resolver.resolve("team-a", {"X": token.id}, "x.example") == {"X": "r8_the_next_value_0000"}
    assert service.create("team-a", {"name": "anywhere", "value": SECRET}).public()["hosts"] is None


@pytest.mark.parametrize("hosts", [[], "api.example.com", ["https://api.example.com"], ["api.example.com:443"],
                                   ["api.example.com/v1"], ["user@api.example.com"], [7], [""], ["a b"],
                                   ["h.example"] * 21 + ["x.example"], ["[::1]:443"], ["[::1]:"]])
def test_hosts_that_are_not_a_list_of_host_names_are_400_and_nothing_is_stored(
        parts: tuple[VaultStore, Cipher], hosts: Any) -> None:
    store, cipher = parts
    service = VaultService(store, cipher)
    with pytest.raises(ValidationFailed, match="^hosts must be a list of 1 to 20 host names"):
        service.create("team-a", {"name": "bad", "value": SECRET, "hosts": hosts})
    assert store.list_for_team("team-a") == []
    token = service.create("team-a", {"name": "good", "value": SECRET, "hosts": ["api.example.com"]})
    with pytest.raises(ValidationFailed, match="^hosts must be a list of 1 to 20 host names"):
        service.rotate("team-a", token.id, {"hosts": hosts})
    assert store.get("team-a", token.id).hosts == ("api.example.com",)
