"""The Cipher contract (encrypt / decrypt bound to a context), run against the in-memory fake and
against KMS on moto with the key that infra.provision made from template.yaml (SecretsKey)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from infra.provision import Provisioner
from taskhook.adapters.kms import KmsCipher
from taskhook.container import container
from taskhook.model.errors import Busy, Undecryptable
from taskhook.ports import Cipher
from tests.support.fakes import InMemoryCipher

from .conftest import REGION, Provisioned

SECRET = b"whsec_c2VjcmV0LWJ5dGVzLWZvci10aGUtY29udHJhY3QtdGVzdA=="
TEAM_A = {"teamId": "team-a", "field": "webhookSecrets"}
TEAM_B = {"teamId": "team-b", "field": "webhookSecrets"}


@pytest.fixture(params=["memory", "kms"])
def pair(request: pytest.FixtureRequest) -> tuple[Cipher, Cipher]:
    """A cipher, and another one with another key."""
    if request.param == "memory":
        return InMemoryCipher(), InMemoryCipher()
    aws: Provisioned = request.getfixturevalue("aws")
    other_key = aws.client("kms").create_key(Description="another key")["KeyMetadata"]["Arn"]
    return container().cipher, KmsCipher(container().client("kms"), other_key)


@pytest.fixture
def cipher(pair: tuple[Cipher, Cipher]) -> Cipher:
    return pair[0]


def test_what_it_encrypts_it_decrypts_with_the_same_context(cipher: Cipher) -> None:
    sealed = cipher.encrypt(SECRET, TEAM_A)
    assert cipher.decrypt(sealed, dict(TEAM_A)) == SECRET


def test_the_ciphertext_does_not_hold_the_plaintext(cipher: Cipher) -> None:
    sealed = cipher.encrypt(SECRET, TEAM_A)
    assert SECRET not in sealed and SECRET.removeprefix(b"whsec_") not in sealed
    assert cipher.encrypt(SECRET, TEAM_A) != sealed  # randomised: equal secrets do not show


@pytest.mark.parametrize("context", [
    TEAM_B,  # another team's row
    {"teamId": "team-a", "field": "vaultToken"},  # another field of the same team
    {"teamId": "team-a"},  # a part of the context
    {**TEAM_A, "extra": "x"},  # more than the context
    {},
], ids=["other-team", "other-field", "subset", "superset", "none"])
def test_another_context_does_not_decrypt(cipher: Cipher, context: dict[str, str]) -> None:
    sealed = cipher.encrypt(SECRET, TEAM_A)
    with pytest.raises(Undecryptable):
        cipher.decrypt(sealed, context)


def test_an_altered_ciphertext_does_not_decrypt(cipher: Cipher) -> None:
    sealed = cipher.encrypt(SECRET, TEAM_A)
    with pytest.raises(Undecryptable):
        cipher.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), TEAM_A)


def test_another_keys_ciphertext_does_not_decrypt(pair: tuple[Cipher, Cipher]) -> None:
    cipher, other = pair
    sealed = other.encrypt(SECRET, TEAM_A)
    with pytest.raises((Undecryptable, ClientError)) as refused:
        cipher.decrypt(sealed, TEAM_A)
    if isinstance(refused.value, ClientError):  # AWS: IncorrectKeyException (Undecryptable, below); moto 5:
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


# ---- KMS's error codes, as AWS sends them (moto does not send each) ---------------------------

@pytest.mark.parametrize(("code", "raised"), [
    ("IncorrectKeyException", Undecryptable),
    ("InvalidCiphertextException", Undecryptable),
    ("ThrottlingException", Busy),
])
def test_kms_errors_become_domain_errors(code: str, raised: type[Exception]) -> None:
    client = boto3.client("kms", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("decrypt", service_error_code=code, http_status_code=400)
        with pytest.raises(raised):
            KmsCipher(client, "alias/taskhook-secrets").decrypt(b"sealed", TEAM_A)
        stubber.assert_no_pending_responses()


def test_other_kms_errors_pass_unchanged() -> None:
    client = boto3.client("kms", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        stubber.add_client_error("decrypt", service_error_code="DisabledException", http_status_code=400)
        with pytest.raises(ClientError):
            KmsCipher(client, "alias/taskhook-secrets").decrypt(b"sealed", TEAM_A)


# ---- the key itself, as provisioned from template.yaml ------------------------------------------

def test_the_functions_are_given_the_templates_key(aws: Provisioned) -> None:
    kms = aws.client("kms")
    key = kms.describe_key(KeyId="alias/taskhook-secrets")["KeyMetadata"]
    assert aws.env["SECRETS_KEY_ID"] == key["Arn"]
    assert container().settings.secrets_key_id == key["Arn"]
    assert key["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True


def test_provisioning_again_keeps_the_key_so_old_ciphertexts_decrypt(aws: Provisioned) -> None:
    sealed = container().cipher.encrypt(SECRET, TEAM_A)
    keys_before = aws.client("kms").list_keys()["Keys"]

    again = Provisioner(None, REGION).provision()

    assert again["SECRETS_KEY_ID"] == aws.env["SECRETS_KEY_ID"]
    assert aws.client("kms").list_keys()["Keys"] == keys_before
    assert KmsCipher(aws.client("kms"), again["SECRETS_KEY_ID"]).decrypt(sealed, TEAM_A) == SECRET
