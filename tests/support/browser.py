"""A real browser for the tests: headless Chromium (Debian's `chromium`, /usr/bin/chromium; the
Makefile installs it) driven by Playwright, which never downloads a browser of its own here.

Every page a test opens records what a user would not see but must never happen: a JavaScript
error, a console error (a Content-Security-Policy refusal is one), a dialog (alert, confirm), and a
request that left the machine. `Watched.assert_clean()` fails the test on any of them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, Response, expect, sync_playwright

CHROMIUM = os.environ.get("TASKHOOK_CHROMIUM", "/usr/bin/chromium")
# As the machine's notes say: without the background-networking flags Chromium tries Google's hosts
# at every start, and this machine's closed network refuses them.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# How long an `expect` waits for the page to show something: as long as the other e2e waits
# (Client.wait_until), not Playwright's 5 s. Each expect waits for API answers; with LocalStack
# and the other worker's 500-create burst sharing two cores, a sign-in's first GET took longer
# than 5 s (CI, and a run beside test_fairness and test_rate_limits), and the page was right.
EXPECT_TIMEOUT_MS = 30_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    assert executable, f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, f"errors in the page: {self.errors}"
        assert not self.dialogs, f"dialogs the page opened: {self.dialogs}"
        assert not self.outside, f"requests that left the machine: {self.outside}"


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_request(request: Request) -> None:
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOCAL_HOSTS:
            watched.outside.append(request.url)

    def on_response(response: Response) -> None:
        if response.status >= 400:
            watched.errors.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    return watched
