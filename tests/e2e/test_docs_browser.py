"""`/docs` in a real browser (headless Chromium): Swagger UI renders the OpenAPI 3.1 document (the
shipped 4.x could not: "Unable to render this definition"), lists every route, and "Try it out"
with an API key reaches the API and shows its answer; no script error, no CSP refusal, nothing
fetched from outside."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.support.browser import Watched
from tests.support.targets import TargetServer

from .conftest import Client, Stack, park_pending


def test_docs_renders_every_route_of_the_openapi_document(stack: Stack, page: Watched) -> None:
    spec = requests.get(stack.url + "/openapi.json", timeout=10).json()
    expected = {(method.upper(), path) for path, item in spec["paths"].items() for method in item
                if method in {"get", "post", "put", "delete", "patch"}}
    assert len(expected) > 10

    page.page.goto(stack.url + "/docs")
    expect(page.page.locator(".opblock").first).to_be_visible()
    expect(page.page.get_by_text("Unable to render this definition")).to_have_count(0)
    shown = set()
    for block in page.page.locator(".opblock").all():
        method = block.locator(".opblock-summary-method").inner_text().strip().upper()
        path = block.locator(".opblock-summary-path").get_attribute("data-path")
        shown.add((method, path))
    assert shown == expected, {"missing": expected - shown, "extra": shown - expected}
    title = page.page.locator(".info .title").inner_text()
    assert spec["info"]["title"] in title and "OAS 3.1" in title
    page.assert_clean()


def test_try_it_out_lists_the_teams_tasks_with_the_key(stack: Stack, page: Watched, team: Client,
                                                       target: TargetServer) -> None:
    created = park_pending(team, target)
    p = page.page
    p.goto(stack.url + "/docs")
    p.get_by_role("button", name=re.compile("Authorize")).first.click()
    dialog = p.locator(".modal-ux")
    dialog.locator("input").first.fill(team.key or "")
    dialog.get_by_role("button", name="Apply credentials").click()
    dialog.get_by_role("button", name="Close").click()

    listing = p.locator(".opblock-get").filter(has=p.locator('[data-path="/v1/tasks"]'))
    listing.locator(".opblock-summary").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()

    status = listing.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")
    expect(listing.locator(".live-responses-table tbody .microlight").first).to_contain_text(created["id"])
    page.assert_clean()
