"""The HTTP API's `$default` route (template.yaml): a request no other route matches (a path no
route serves, or a route's path with a method it does not take) reaches the API function with
`resource` and `requestContext.resourcePath` `$default` (payload format 1.0). An HTTP API has no
gateway responses, so the function answers it.

Chalice routes on `resourcePath` and has no such route: its route table (a defaultdict) would
answer 405 with an empty `Allow` header, and keep `$default` as a route from then on. This
middleware answers first, with what the REST API's gateway response answered: 404
`{"error": "Not found"}`, before any authentication, read or write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .responses import NOT_FOUND, error_response

if TYPE_CHECKING:
    from chalice.app import Request, Response

DEFAULT_ROUTE = "$default"  # an HTTP API payload 1.0 event's resourcePath on the $default route
# Seed 003's dashboard path with its trailing slash: REST API Gateway routes it to `/admins/tasks`;
# whether an HTTP API does is not documented, so when it reaches `$default` it is sent there.
SLASHED_PAGES = {"/admins/tasks/": "../tasks"}


def unrouted_requests(request: Request | None, get_response: Callable[[Request | None], Response]) -> Response:
    """Chalice's HTTP middleware: the `$default` route's requests are 404 (a slashed page path a 302
    to its route), every other one is routed."""
    if request is not None and request.path == DEFAULT_ROUTE:
        path = str(request.to_original_event().get("path") or "")
        target = next((to for page, to in SLASHED_PAGES.items() if path.endswith(page)), None)
        if target is not None and request.method == "GET":
            from chalice.app import Response

            return Response(body="", status_code=302, headers={"Location": target})
        return error_response(404, NOT_FOUND)
    return get_response(request)
