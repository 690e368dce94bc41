"""The dashboard's serving (functions/dashboard.py) and the rules its static files keep: served at
seed 003's `/admins/tasks/` (with or without the slash; `/dashboard` redirects there), its assets
only from the shipped folder, a strict Content-Security-Policy, no inline script, and no task data
ever parsed as HTML (no innerHTML or its kin anywhere in the page's code). The page itself runs in
a real browser in tests/e2e/test_dashboard_browser.py."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice
from chalice.test import Client

from functions.dashboard import ASSET_DIR, CSP, asset_names, dashboard, page_for
from functions.responses import uniform_errors

EVENTS = Path(__file__).resolve().parents[1] / "events"


def app() -> Chalice:
    served = Chalice(app_name="dashboard")
    served.register_middleware(uniform_errors, "http")
    served.register_blueprint(dashboard)
    return served


def get(path: str) -> Any:
    with Client(app()) as client:
        return client.http.get(path)


@pytest.mark.parametrize(("path", "prefix"), [("/admins/tasks", "tasks/assets/"), ("/admins/tasks/", "assets/")])
def test_the_page_is_served_with_or_without_the_slash_its_assets_relative_to_it(path: str, prefix: str) -> None:
    answer = get(path)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Content-Security-Policy"] == CSP
    page = answer.body.decode()
    assert f'<script type="module" src="{prefix}app.js"></script>' in page
    assert f'href="{prefix}dashboard.css"' in page
    assert "{{" not in page


def test_behind_api_gateway_the_slash_reaches_the_same_route_and_is_read_from_the_event() -> None:
    """API Gateway sends `/admins/tasks/` to the `/admins/tasks` route (a route cannot end with a
    slash); the event's `path` keeps the slash, and the page's asset URLs follow it. (The HTTP API's
    payload 1.0 event, as template.yaml deploys it; should that API not match the slashed path, its
    `$default` route redirects: tests/functional/test_handlers.py.)"""
    event = json.loads((EVENTS / "http_api_get_task.json").read_text())
    event = copy.deepcopy(event)
    event.update(resource="/admins/tasks", path="/admins/tasks/", httpMethod="GET", body=None, pathParameters=None,
                 queryStringParameters=None, multiValueQueryStringParameters=None)
    event["requestContext"].update(resourcePath="/admins/tasks", httpMethod="GET", path="/admins/tasks/")
    from app import app as lambdas  # noqa: PLC0415 - the deployed app: every blueprint

    answer = lambdas(event, None)
    assert answer["statusCode"] == 200
    assert 'src="assets/app.js"' in answer["body"]


def test_dashboard_redirects_to_the_page_relative_to_a_stage_prefix() -> None:
    answer = get("/dashboard")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "admins/tasks/"


def test_every_shipped_asset_is_served_with_its_type_and_nothing_else_is() -> None:
    names = asset_names()
    assert {"app.js", "api.js", "live.js", "dom.js", "dashboard.css"} <= names
    for name in names:
        answer = get(f"/admins/tasks/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Type"].startswith("text/javascript" if name.endswith(".js") else "text/css")
    for probe in ("nope.js", "..%2F..%2Fapp.py", "%2E%2E%2Findex.html", "index.html", "app.JS"):
        answer = get(f"/admins/tasks/assets/{probe}")
        assert (answer.status_code, json.loads(answer.body)) == (404, {"error": "Not found"}), probe


def test_the_policy_forbids_inline_script_and_style_and_outside_sources() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in CSP and "http" not in CSP
    assert directives["connect-src"] == "'self' ws: wss:"  # the WebSocket API is on another origin


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    page = page_for("/admins/tasks/")
    assert re.findall(r"<script\b[^>]*>", page) == ['<script type="module" src="assets/app.js">']
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+\s*=", page)


def _sources() -> dict[str, str]:
    return {name: (ASSET_DIR / "assets" / name).read_text() for name in asset_names() if name.endswith(".js")}


def test_no_module_parses_text_as_html_or_code() -> None:
    """Task fields are attacker-controlled: text goes into the DOM as text only."""
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                           r"createContextualFragment|DOMParser|setAttribute\(\s*[\"']on|\.srcdoc")
    found = {name: forbidden.findall(text) for name, text in _sources().items() if forbidden.search(text)}
    assert found == {}


def test_every_module_imported_is_shipped_and_the_credential_never_goes_into_a_url() -> None:
    sources = _sources()
    for name, text in sources.items():
        for imported in re.findall(r'from "\./([^"]+)"', text):
            assert imported in asset_names(), (name, imported)
    assert "localStorage" not in "".join(sources.values())  # the session's storage only
    assert "api_key" not in "".join(sources.values())  # the WebSocket opens with a ticket
