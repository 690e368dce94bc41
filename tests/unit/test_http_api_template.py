"""template.yaml deploys the task API as an HTTP API (API Gateway v2: $1.00 per million requests,
REST's $3.50), in the shape the Chalice app reads: payload format 1.0 on every route, a `$default`
route for what no route matches (functions/default_route.py answers it 404), and every URL that named
the REST API's `Prod` stage naming the HTTP API's `$default` stage, which has no path segment.
(The routes equal the app's: tests/functional/test_deploy_paths.py.)"""

from __future__ import annotations

from typing import Any

from bench import cost
from infra.template import TEMPLATE_PATH, load_template

TEMPLATE = load_template()
HTTP_API_URL = "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
HTTP_API_MAX_TIMEOUT_MS = 30_000  # an HTTP API integration's longest (and default) timeout


def _events(function: str) -> dict[str, dict[str, Any]]:
    return dict(TEMPLATE["Resources"][function]["Properties"]["Events"])


def test_every_api_route_is_an_http_api_route_with_the_payload_chalice_reads() -> None:
    events = _events("ApiFunction")
    assert events
    for name, event in events.items():
        assert event["Type"] == "HttpApi", name
        assert event["Properties"]["PayloadFormatVersion"] == "1.0", name  # SAM's default is 2.0


def test_no_function_keeps_a_rest_api_event() -> None:
    for name, resource in TEMPLATE["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            kinds = {e["Type"] for e in resource["Properties"].get("Events", {}).values()}
            assert "Api" not in kinds, name
    assert "Api" not in TEMPLATE["Globals"]  # REST-only settings (gateway responses) would apply to nothing


def test_one_default_route_sends_what_no_route_matches_to_the_api_function() -> None:
    """SAM makes an HttpApi event with neither Path nor Method the `$default` route."""
    defaults = [name for function, resource in TEMPLATE["Resources"].items()
                if resource["Type"] == "AWS::Serverless::Function"
                for name, event in resource["Properties"].get("Events", {}).items()
                if event["Type"] == "HttpApi" and not {"Path", "Method"} & set(event["Properties"])]
    assert defaults == ["Unrouted"]
    assert "Unrouted" in _events("ApiFunction")


def test_the_integration_waits_for_the_function() -> None:
    """An HTTP API gives up on its integration after 30 s at most (the default): the API function
    ends before, so a slow request gets the app's answer, not the gateway's 503."""
    timeout_s = int(TEMPLATE["Resources"]["ApiFunction"]["Properties"]["Timeout"])
    assert timeout_s * 1000 < HTTP_API_MAX_TIMEOUT_MS
    for name, event in _events("ApiFunction").items():
        configured = event["Properties"].get("TimeoutInMillis", HTTP_API_MAX_TIMEOUT_MS)
        assert timeout_s * 1000 < int(configured) <= HTTP_API_MAX_TIMEOUT_MS, name


def test_the_api_urls_are_the_http_apis_without_a_stage_segment() -> None:
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert "ServerlessRestApi" not in text and "/Prod" not in text
    variables = TEMPLATE["Resources"]["ExecuteHighFunction"]["Properties"]["Environment"]["Variables"]
    _, _, own_url = variables["TASKHOOK_PUBLIC_URL"]["Fn::If"]
    assert own_url == {"Fn::Sub": HTTP_API_URL}  # a callback URL is this + /v1/callbacks/…
    assert TEMPLATE["Outputs"]["ApiUrl"]["Value"] == {"Fn::Sub": HTTP_API_URL + "/"}
    subs = [s for s in _strings(TEMPLATE) if "ServerlessHttpApi" in s]
    assert subs and set(subs) <= {HTTP_API_URL, HTTP_API_URL + "/"}, subs


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


def test_the_bench_prices_the_template_as_an_http_api() -> None:
    assert cost.deployed_api(TEMPLATE) == cost.deployed_api() == "http"
