"""`GET /openapi.json` and `GET /docs`: Swagger UI 5 (it renders OpenAPI 3.1; 4.x showed "Unable to
render this definition") from the swagger-ui-py package's static files, no CDN. The page runs no
inline script: its start-up is docs/init.js, and a Content-Security-Policy allows only this origin's
scripts."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.util import find_spec
from pathlib import Path

from chalice import Blueprint, Response

from taskhook.container import container

from .responses import endpoint, error_response

docs = Blueprint(__name__)

ASSET_TYPES = {".css": "text/css", ".js": "application/javascript", ".png": "image/png"}
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")
# The page's own start-up (relative URLs: under a stage prefix such as /Prod they stay under it).
INIT = """window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
"""
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Taskhook API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-ui-standalone-preset.js"></script>
<script src="docs/init.js"></script>
</body></html>"""
# Scripts from this origin only (no inline script, no eval); Swagger UI sets inline styles and
# draws its icons as data: images; "Try it out" calls this origin's API.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    from taskhook.intake.openapi import build_openapi

    return json.dumps(build_openapi(container().task_registry))


@cache
def _asset(name: str) -> str:
    if name == "init.js":
        return INIT
    # The package's folder without importing it (its __init__ imports jinja2 and PyYAML for its own
    # framework adapters, which the API never uses).
    spec = find_spec("swagger_ui")
    assert spec is not None and spec.submodule_search_locations, "swagger-ui-py is not installed"
    return (Path(list(spec.submodule_search_locations)[0]) / "static" / name).read_text(encoding="utf-8")


@docs.route("/openapi.json", methods=["GET"])
@endpoint
def openapi_json() -> Response:
    return Response(body=_openapi_text(), status_code=200, headers={"Content-Type": "application/json"})


@docs.route("/docs", methods=["GET"])
@endpoint
def docs_page() -> Response:
    return Response(body=PAGE, status_code=200, headers={"Content-Type": "text/html; charset=utf-8",
                                                         "Content-Security-Policy": CSP})


@docs.route("/docs/{asset}", methods=["GET"])
@endpoint
def docs_asset(asset: str) -> Response:
    if asset not in ASSETS and asset != "init.js":
        return error_response(404, "Not found")
    content_type = ASSET_TYPES[asset[asset.rindex("."):]]
    return Response(body=_asset(asset), status_code=200, headers={"Content-Type": content_type})
