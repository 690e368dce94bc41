"""`GET /openapi.json` and `GET /docs`: Swagger UI from the swagger-ui-bundle package, no CDN."""

from __future__ import annotations

import json
from functools import cache, lru_cache

from chalice import Blueprint, Response

from taskhook.container import container
from taskhook.intake.openapi import build_openapi

from .responses import endpoint, error_response

docs = Blueprint(__name__)

ASSET_TYPES = {".css": "text/css", ".js": "application/javascript", ".png": "image/png"}
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Taskhook API</title>
<link rel="stylesheet" href="docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui",
presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});</script>
</body></html>"""


@lru_cache(maxsize=1)
def _openapi_text() -> str:
    return json.dumps(build_openapi(container().task_registry))


@cache
def _asset(name: str) -> str:
    from swagger_ui_bundle import swagger_ui_path

    return (swagger_ui_path / name).read_text(encoding="utf-8")


@docs.route("/openapi.json", methods=["GET"])
@endpoint
def openapi_json() -> Response:
    return Response(body=_openapi_text(), status_code=200, headers={"Content-Type": "application/json"})


@docs.route("/docs", methods=["GET"])
@endpoint
def docs_page() -> Response:
    return Response(body=PAGE, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@docs.route("/docs/{asset}", methods=["GET"])
@endpoint
def docs_asset(asset: str) -> Response:
    if asset not in ASSETS:
        return error_response(404, "Not found")
    content_type = ASSET_TYPES[asset[asset.rindex("."):]]
    return Response(body=_asset(asset), status_code=200, headers={"Content-Type": content_type})
