"""The dashboard (`/admins/tasks/`, seed 003's task monitor) in a real browser (headless Chromium)
against the real local stack: sign in with an API key, the task list with its filter and paging,
a task's page, cancel from the UI, a hostile task rendered as text, live updates over the WebSocket
(a new task appears and a function task's progress bar reaches 100 % without a reload), and the
phone width. Every page is watched: no script error, no CSP refusal, no dialog, nothing fetched
from outside (tests/support/browser.py).

TASKHOOK_SCREENSHOTS=1 saves the README's screenshots (docs/dashboard-*.png) from these tests."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.browser import Watched
from tests.support.targets import TargetServer

from .conftest import FAR_FUTURE, ROOT, Client, Stack

HOSTILE_BODY = "<img src=x onerror=alert(1)>"
HOSTILE_RESULT = "</script><script>alert(1)</script>"


def screenshot(page: Page, name: str) -> None:
    """docs/<name>.png for the README, only when TASKHOOK_SCREENSHOTS asks for it."""
    if os.environ.get("TASKHOOK_SCREENSHOTS"):
        page.screenshot(path=str(Path(ROOT) / "docs" / f"{name}.png"), full_page=False)


def admin_key(stack: Stack, team: Client) -> str:
    """A key of `team` that may also manage it (the admin scope)."""
    done = stack.cli("keys", "create", "--team", team.team, "--name", "dashboard", "--scope", "admin")
    return str(json.loads(done.stdout)["apiKey"])


def sign_in(page: Page, stack: Stack, key: str) -> None:
    page.goto(stack.url + "/dashboard")  # → /admins/tasks/
    expect(page).to_have_url(re.compile(r"/admins/tasks/$"))
    page.get_by_label("API key or client token").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("table.tasks")).to_be_visible()


def row(page: Page, task_id: str) -> Any:
    return page.locator(f'table.tasks tr[data-task-id="{task_id}"]')


def test_sign_in_list_filter_page_detail_cancel_and_hostile_data(stack: Stack, page: Watched, team: Client,
                                                                  target: TargetServer) -> None:
    p = page.page
    assert team.key
    # A target that answers with the hostile text as its body: the task's result holds it.
    target.url("/hostile", [{"status": 200, "body": HOSTILE_RESULT}])
    hostile = team.create_ok({"targetUrl": target.base + "/hostile", "body": HOSTILE_BODY,
                              "headers": {"X-Note": HOSTILE_RESULT}})
    refused = team.request("POST", "/api/testing/task/start/refuses", json={"reason": HOSTILE_BODY})
    assert refused.status_code == 200, refused.text
    failed = {"id": refused.json()["task_id"]}
    parked = [team.create_ok({"targetUrl": target.base + "/never", "delayUntil": FAR_FUTURE}) for _ in range(26)]
    team.wait_until(hostile["id"], lambda t: t["status"] == "completed")
    team.wait_until(failed["id"], lambda t: t["status"] == "failed")
    assert team.total() == 28  # the counters behind pagination.total have caught up (they follow the stream)

    key = admin_key(stack, team)
    sign_in(p, stack, key)
    # The key is in this tab's session storage, never in a URL or in local storage.
    assert key not in p.url
    assert p.evaluate("sessionStorage.getItem('taskhook.credential')") == key
    assert p.evaluate("localStorage.length") == 0

    # The first page: the 25 newest of 28 (the list reads a page at a time), newest first.
    expect(p.locator("table.tasks tbody tr")).to_have_count(25)
    expect(row(p, parked[-1]["id"])).to_be_visible()
    expect(row(p, hostile["id"])).to_have_count(0)
    expect(p.locator(".summary")).to_have_text("Tasks 1–25 of 28")
    p.get_by_role("button", name="Older →").click()
    expect(p.locator(".summary")).to_have_text("Tasks 26–28 of 28")
    expect(row(p, hostile["id"])).to_be_visible()
    expect(row(p, failed["id"]).locator('[data-col="status"]')).to_have_text("failed")
    p.get_by_role("button", name="← Newer").click()
    expect(row(p, parked[-1]["id"])).to_be_visible()

    # The status filter.
    p.get_by_label("Status").select_option("failed")
    expect(p.locator("table.tasks tbody tr")).to_have_count(1)
    expect(row(p, failed["id"])).to_be_visible()
    # The kind filter (GET /v1/tasks?kind=): the one function task of the 28.
    p.get_by_label("Status").select_option("")
    p.get_by_label("Kind").select_option("function")
    p.get_by_role("button", name="Apply").click()
    expect(p.locator("table.tasks tbody tr")).to_have_count(1)
    expect(row(p, failed["id"])).to_be_visible()

    # The failed task's page: its error, its attempts, its progress bar (a function task).
    row(p, failed["id"]).get_by_role("link").click()
    expect(p.locator("#task-title")).to_contain_text(failed["id"])
    expect(p.locator("#task-title .badge")).to_have_text("failed")
    expect(p.locator("#attempts-title")).to_be_visible()
    expect(p.locator(".task-progress progress")).to_be_visible()
    expect(p.get_by_role("button", name="Cancel task")).to_have_count(0)  # the lifecycle allows no cancel
    stored = team.task(failed["id"])
    assert stored["attempts"]  # the attempt history, as a timeline
    expect(p.locator(".timeline li.attempt")).to_have_count(len(stored["attempts"]))
    expect(p.locator(".timeline li.attempt").last).to_contain_text(HOSTILE_BODY)  # its error, as text
    # Retry: a new task, retryOf the original, which stays failed.
    p.get_by_role("button", name="Retry as a new task").click()
    p.wait_for_url(lambda url: failed["id"] not in url)
    expect(p.locator('[data-field="retryOf"] dd')).to_have_text(failed["id"])
    retried = p.url.rsplit("/", 1)[-1]
    assert team.task(retried)["retryOf"] == failed["id"]
    assert team.task(failed["id"])["status"] == "failed"

    # The hostile task, found by its id: everything shown as text, nothing run or loaded.
    p.goto(stack.url + "/admins/tasks/")
    p.get_by_label("Find a task by id").fill(hostile["id"])
    p.get_by_role("button", name="Open").click()
    expect(p.locator("#task-title")).to_contain_text(hostile["id"])
    expect(p.locator('pre[aria-label="Request body"]')).to_have_text(HOSTILE_BODY)
    expect(p.locator('pre[aria-label="Result"]')).to_contain_text(json.dumps(HOSTILE_RESULT)[1:-1])
    expect(p.locator('pre[aria-label="Request headers"]')).to_contain_text(HOSTILE_RESULT)
    assert p.locator("main img, main script, main [onerror]").count() == 0
    screenshot(p, "dashboard-task")

    # Cancel a delayed task from its page.
    victim = parked[0]["id"]
    p.goto(stack.url + f"/admins/tasks/#/task/{victim}")
    p.get_by_role("button", name="Cancel task").click()
    expect(p.locator("#task-title .badge")).to_have_text("cancelled")
    assert team.task(victim)["status"] == "cancelled"

    # Parts whose routes this server lacks say so; those it has show their data.
    p.get_by_role("link", name="Overview").click()
    expect(p.locator("svg.chart g.minute")).to_have_count(60)  # the last hour, a bar pair a minute
    expect(p.locator('.queues tr[data-queue="deadLetter"]')).to_be_visible()
    for name, hosts in (("bound", ["api.example.com"]), ("anywhere", None)):
        stored = team.request("POST", "/v1/tokens", json={"name": name, "value": "sk_dashboard_0123456789",
                                                          **({"hosts": hosts} if hosts else {})})
        assert stored.status_code == 201, stored.text
    p.get_by_role("link", name="Admin").click()
    # Its sections load at once; on LocalStack a read takes a second or two.
    expect(p.locator("#webhook-secret output.secret").first).to_contain_text("whsec_")
    vault = p.locator("ul.vault li")  # which tokens are bound, and to what
    expect(vault.filter(has_text="bound").locator(".hosts")).to_have_text("only to api.example.com")
    expect(vault.filter(has_text="anywhere").locator(".hosts")).to_have_text("to any host")
    # Seed 003's client token: made (shown once), listed, revoked.
    tokens = p.locator("#client-tokens")
    tokens.get_by_role("textbox", name="Client", exact=True).fill("dashboard-client")
    tokens.get_by_role("button", name="Create").click()
    expect(tokens.locator(".shown-once output")).to_contain_text("ct_")
    token_row = tokens.locator("tbody tr").filter(has_text="dashboard-client")
    expect(token_row).to_have_count(1)
    token_row.get_by_role("button", name="Revoke").click()
    expect(token_row).to_contain_text("revoked")

    # A phone's width: nothing wider than the screen but the table, which scrolls in its own box.
    p.set_viewport_size({"width": 375, "height": 740})
    p.get_by_role("link", name="Tasks").click()
    expect(p.locator("table.tasks")).to_be_visible()
    assert p.evaluate("document.documentElement.scrollWidth") <= 375
    p.get_by_role("button", name="Sign out").click()
    expect(p.get_by_label("API key or client token")).to_be_visible()
    assert p.evaluate("sessionStorage.getItem('taskhook.credential')") is None
    page.assert_clean()


def test_live_new_tasks_and_progress_bars_without_reload(stack: Stack, page: Watched, team: Client) -> None:
    p = page.page
    assert team.key
    sockets: list[str] = []
    p.on("websocket", lambda socket: sockets.append(socket.url))
    sign_in(p, stack, team.key)
    expect(p.locator("#live-state")).to_have_attribute("data-state", "live")
    p.evaluate("window.notReloaded = true")

    # Seed 003's examples: task2 reports ten steps (5 s), task1 three, then 100 % when they complete.
    ids = []
    for path, args in (("example_task2/task/start/task2_with_args", {"name": "Matt", "age": 25}),
                       ("example_task/task/start/task1", {})):
        started = team.request("POST", f"/api/{path}", json=args)
        assert started.status_code == 200, started.text
        ids.append(started.json()["task_id"])
    for task_id in reversed(ids):
        bar = row(p, task_id).locator("progress")
        expect(bar).to_be_visible()  # it appeared without a reload
        expect(bar).to_have_attribute("value", "100", timeout=30_000)
        expect(row(p, task_id).locator('[data-col="status"]')).to_have_text("completed")
        if task_id == ids[-1]:
            screenshot(p, "dashboard-list")  # task1 done, task2 on its way
    assert p.evaluate("window.notReloaded") is True
    # The catalogue: seed 003's "Example Task" started from the page and followed to 100 %.
    p.get_by_role("link", name="Catalogue").click()
    card = p.locator('article[data-function="example_task.task1"]')
    expect(card.get_by_role("heading")).to_have_text("Example Task")
    card.get_by_role("button", name="Start").click()
    expect(p.locator("#task-title")).to_be_visible()
    expect(p.locator(".task-progress progress")).to_have_attribute("value", "100", timeout=30_000)
    expect(p.locator("#task-title .badge")).to_have_text("completed")
    assert p.evaluate("window.notReloaded") is True

    # The page opened its WebSocket with a ticket from POST /v1/live/tickets: no key in the URL.
    assert sockets and all("ticket=wst_" in url for url in sockets), sockets
    assert not [url for url in sockets if team.key in url], sockets
    page.assert_clean()


def test_a_client_token_signs_in_to_a_read_only_view_of_its_clients_tasks(stack: Stack, page: Watched,
                                                                         team: Client) -> None:
    p = page.page
    token = stack.create_client_token(team.team, client="dashboard-web")["clientToken"]
    mine = team.request("POST", f"/api/example_task/tasks/{token}/start/task1", json={})
    other = team.request("POST", "/api/example_task/task/start/task1", json={})
    assert mine.status_code == other.status_code == 200, (mine.text, other.text)
    mine_id, other_id = mine.json()["task_id"], other.json()["task_id"]

    # By keyboard alone: the sign-in form submits on Enter, a task's link opens on Enter.
    p.goto(stack.url + "/admins/tasks/")
    p.get_by_label("API key or client token").focus()
    p.keyboard.type(token)
    p.keyboard.press("Enter")
    expect(p.locator("#who-text")).to_have_text("Client token (read-only)")
    expect(row(p, mine_id)).to_be_visible()
    expect(row(p, other_id)).to_have_count(0)  # another client's task of the same team: not shown
    expect(p.get_by_role("link", name="Admin")).to_be_hidden()
    row(p, mine_id).get_by_role("link").focus()
    p.keyboard.press("Enter")
    expect(p.locator("#task-title")).to_contain_text(mine_id)
    expect(p.locator(".actions button")).to_have_count(0)  # nothing to cancel or retry from here
    page.assert_clean()


def test_a_late_change_from_the_feed_never_moves_a_page_back(stack: Stack, page: Watched, team: Client) -> None:
    """The feed follows the table's stream, which can deliver a change after the page read a later
    state: the list and the task's page keep the later state (its progress, its message). The late
    change is pushed into the page's own WebSocket (Playwright's route), then a newer one whose
    effect shows that the page has handled both."""
    p = page.page
    assert team.key
    ids = []
    for _ in range(2):
        started = team.request("POST", "/api/example_task/task/start/task1", json={})
        assert started.status_code == 200, started.text
        ids.append(started.json()["task_id"])
    for task_id in ids:
        done = team.wait_until(task_id, lambda task: task["status"] == "completed")
        assert done["progress"] == 100, done
    shown, marker = ids
    sockets: list[Any] = []

    def follow(socket: Any) -> None:
        socket.connect_to_server()  # the real feed still flows both ways
        sockets.append(socket)

    p.route_web_socket(re.compile(r".*ticket=wst_.*"), follow)

    def push(task_id: str, at: str, **fields: Any) -> None:
        sockets[-1].send(json.dumps({"task_id": task_id, "status": "completed", "timestamp": at, **fields}))

    late, newer = "2000-01-01T00:00:00.000000+00:00", "2999-01-01T00:00:00.000000+00:00"
    sign_in(p, stack, team.key)
    expect(p.locator("#live-state")).to_have_attribute("data-state", "live")
    expect(row(p, shown).locator("progress")).to_have_attribute("value", "100")
    push(shown, late, progress=30, message="late")
    push(marker, newer, progress=55)
    expect(row(p, marker).locator("progress")).to_have_attribute("value", "55")
    expect(row(p, shown).locator("progress")).to_have_attribute("value", "100")

    row(p, shown).get_by_role("link").click()
    expect(p.locator("#task-title")).to_contain_text(shown)
    expect(p.locator(".task-progress progress")).to_have_attribute("value", "100")
    expect(p.locator("#live-state")).to_have_attribute("data-state", "live")
    push(shown, late, progress=30, message="late")
    push(shown, newer, message="newer")  # no progress: the bar keeps what the page holds
    expect(p.locator("p.message")).to_have_text("Message: newer")
    expect(p.locator(".task-progress progress")).to_have_attribute("value", "100")
    page.assert_clean()
