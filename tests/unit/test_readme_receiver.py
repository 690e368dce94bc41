"""The README's receiver example, run as written: it verifies the signature and reads only what the
signature covers (the body), never the query string, which anyone on the path can change."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskhook.notify.signing import new_secret, signature_headers

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDER = '"whsec_…"'
SIGNED_URL = "https://taskhook-outputs.s3.amazonaws.com/out/t1?X-Amz-Signature=real"
FORGED_URL = "https://attacker.example/malware.exe"


def receiver_example() -> str:
    text = README.read_text(encoding="utf-8")
    after = text[text.index("A receiver that verifies it"):]
    match = re.search(r"```python\n(.*?)```", after, re.DOTALL)
    assert match, "the README has no receiver example"
    return match.group(1)


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def client(secret: str) -> Any:
    pytest.importorskip("flask")
    code = receiver_example()
    assert PLACEHOLDER in code
    namespace: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(code.replace(PLACEHOLDER, repr(secret)), str(README), "exec"), namespace)  # noqa: S102
    return namespace["app"].test_client()


def post(client: Any, body: dict[str, Any], headers: dict[str, str]) -> Any:
    query = {"task_id": "t1", "status": "completed", "download_url": FORGED_URL}
    return client.post("/updated", query_string=query, data=json.dumps(body),
                       headers={"Content-Type": "application/json", **headers})


def signed(secret: str, body: dict[str, Any]) -> dict[str, str]:
    return signature_headers([secret], "msg_readme", datetime.now(UTC), json.dumps(body))


def test_it_reads_download_url_from_the_signed_body_not_the_query(client: Any, secret: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    body = {"task_id": "t1", "status": "completed", "download_url": SIGNED_URL, "sequence": "7"}

    response = post(client, body, signed(secret, body))

    assert response.status_code == 204
    out = capsys.readouterr().out
    assert SIGNED_URL in out
    assert FORGED_URL not in out


def test_it_refuses_a_bad_signature_and_reads_nothing(client: Any, secret: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    body = {"task_id": "t1", "status": "completed", "download_url": SIGNED_URL, "sequence": "7"}
    headers = signed(new_secret(), body)  # another secret

    response = post(client, body, headers)

    assert response.status_code == 401
    assert capsys.readouterr().out == ""
