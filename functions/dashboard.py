"""The task dashboard (seed 003's "Task Monitor Interface", at seed 003's `/admins/tasks/`): one HTML
page and its static files (taskhook/dashboard/: plain HTML, CSS and ES modules; no build step, no
CDN). The page signs in with an API key or client token kept in the browser's session storage and
calls the same API routes a script would: this module serves files, nothing else.

API Gateway routes `/admins/tasks/` to the `/admins/tasks` route (a route cannot end with a slash);
the page's relative asset URLs depend on which one the browser asked for, so the page is written for
the path it was served at. A strict Content-Security-Policy: scripts and styles from this origin
only (no inline script, no style attribute in HTML), connections to this origin and the WebSocket
API (another port locally, another domain on AWS)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response

import taskhook

from .responses import endpoint, error_response

dashboard = Blueprint(__name__)

ASSET_DIR = Path(taskhook.__file__).parent / "dashboard"
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".svg": "image/svg+xml"}
# Task fields are attacker-controlled: the page inserts them as text only, and this policy makes an
# injected script or inline handler inert anyway.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


@cache
def _page_template() -> str:
    return (ASSET_DIR / "index.html").read_text(encoding="utf-8")


@cache
def asset_names() -> frozenset[str]:
    """The files the page may load: exactly those shipped (a name is never a path)."""
    folder = ASSET_DIR / "assets"
    return frozenset(p.name for p in folder.iterdir() if p.is_file() and p.suffix in ASSET_TYPES)


@cache
def _asset(name: str) -> str:
    return (ASSET_DIR / "assets" / name).read_text(encoding="utf-8")


def _requested_path() -> str:
    request = dashboard.current_request
    return str(request.to_original_event().get("path") or (request.context or {}).get("path") or "")


def page_for(path: str) -> str:
    """The page, its asset URLs relative to `path` (with or without the trailing slash)."""
    prefix = "assets/" if path.endswith("/") else "tasks/assets/"
    return _page_template().replace("{{assets}}", prefix)


@dashboard.route("/admins/tasks", methods=["GET"])
@endpoint
def dashboard_page() -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                                           **SECURITY_HEADERS}
    return Response(body=page_for(_requested_path()), status_code=200, headers=headers)


@dashboard.route("/dashboard", methods=["GET"])
@endpoint
def dashboard_redirect() -> Response:
    # Relative: under a stage prefix (/Prod/dashboard) it stays under it.
    return Response(body="", status_code=302, headers={"Location": "admins/tasks/", "Content-Type": "text/plain"})


@dashboard.route("/admins/tasks/assets/{name}", methods=["GET"])
@endpoint
def dashboard_asset(name: str) -> Response:
    if name not in asset_names():
        return error_response(404, "Not found")
    headers: dict[str, str | list[str]] = {"Content-Type": ASSET_TYPES[name[name.rindex("."):]],
                                           "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return Response(body=_asset(name), status_code=200, headers=headers)
