"""`GET /openapi.json` and `GET /docs`: the contract and Swagger UI, served without any CDN."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from .conftest import Stack

SEED_FIELDS = {
    "targetUrl", "method", "headers", "body", "maxWaitTime", "timeout", "delayUntil", "maxRetries",
    "retryBackoff", "priority", "onCompleteUrl", "provider", "pollConfig",
}
# Taskhook's own additions to seed 002's fields (docs/waiting.md).
EXTRA_FIELDS = {"waitForCallback"}


@pytest.fixture(scope="module")
def openapi(stack: Stack) -> dict:  # type: ignore[type-arg]
    response = requests.get(stack.url + "/openapi.json", timeout=10)  # no API key: docs are public
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_openapi_is_3_1(openapi: dict) -> None:  # type: ignore[type-arg]
    assert re.fullmatch(r"3\.1\.\d+", openapi["openapi"])
    assert openapi["info"]["title"]


def test_create_task_request_schema_has_every_seed_field(openapi: dict) -> None:  # type: ignore[type-arg]
    schema = openapi["components"]["schemas"]["CreateTaskRequest"]
    assert set(schema["properties"]) == SEED_FIELDS | EXTRA_FIELDS
    assert schema.get("required") == ["targetUrl"]
    assert schema.get("additionalProperties") is False  # unknown fields are refused
    method = schema["properties"]["method"]
    assert set(method.get("enum", [])) == {"GET", "POST", "PUT", "DELETE"} or "anyOf" in method


def test_every_v1_route_is_documented(openapi: dict) -> None:  # type: ignore[type-arg]
    paths = openapi["paths"]
    assert {"post", "get"} <= set(paths["/v1/tasks"])
    task_paths = [p for p in paths if re.fullmatch(r"/v1/tasks/\{[a-zA-Z_]+\}", p)]
    assert len(task_paths) == 1 and "get" in paths[task_paths[0]]
    cancel_paths = [p for p in paths if re.fullmatch(r"/v1/tasks/\{[a-zA-Z_]+\}/cancel", p)]
    assert len(cancel_paths) == 1 and "post" in paths[cancel_paths[0]]


def test_openapi_document_is_valid(openapi: dict) -> None:  # type: ignore[type-arg]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi)


def test_docs_page_uses_only_local_assets(stack: Stack) -> None:
    response = requests.get(stack.url + "/docs", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.text
    assert "swagger-ui" in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE), "a CDN URL in /docs"
    assert "http://" not in html and "https://" not in html

    refs = [ref for ref in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) if ref != "data:,"]
    assert "<script>" not in html, "an inline script (the CSP forbids them)"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs), refs
    base = stack.url + "/docs"
    for ref in refs:
        url = urljoin(base, ref)
        assert urlsplit(url).netloc == urlsplit(stack.url).netloc, url
        asset = requests.get(url, timeout=10)
        assert asset.status_code == 200, (ref, url, asset.status_code)
        assert len(asset.content) > (100 if ref.endswith("init.js") else 1000), ref
        expected = "text/css" if ref.endswith(".css") else "javascript"
        assert expected in asset.headers["Content-Type"], (ref, asset.headers["Content-Type"])


def test_docs_page_points_swagger_ui_at_the_served_openapi(stack: Stack) -> None:
    init = requests.get(stack.url + "/docs/init.js", timeout=10).text  # the page's start-up script
    match = re.search(r"""url\s*:\s*["']([^"']+)["']""", init)
    assert match, "Swagger UI is not given the document's URL"
    spec = requests.get(urljoin(stack.url + "/docs", match.group(1)), timeout=10)
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.1")


def test_an_unknown_docs_asset_is_404_json(stack: Stack) -> None:
    response = requests.get(stack.url + "/docs/nope.js", timeout=10)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
