"""The Chalice path's REST API (`make package` merges infra/gateway_responses.py into it): API
Gateway's own answers (a path no route serves, a refused content type, any 4xx or 5xx it makes before
or instead of the function) are `{"error": …}` like the app's, and repeat nothing of the request. API
Gateway's default answer to an unknown path is 403 with a message that quotes the request's
Authorization header: the caller's API key. (template.yaml deploys an HTTP API, which has no gateway
responses: tests/unit/test_http_api_template.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from functions.responses import NOT_FOUND
from infra.gateway_responses import CHALICE_API, GATEWAY_RESPONSES, merge_template
from infra.state import ROOT

REQUIRED = {"MISSING_AUTHENTICATION_TOKEN", "UNSUPPORTED_MEDIA_TYPE", "DEFAULT_4XX", "DEFAULT_5XX"}
# API Gateway's response types (AWS::ApiGateway::GatewayResponse ResponseType) and SAM's Gateway
# Response Object: cfn-lint does not check a merge template, so this test does.
RESPONSE_TYPES = {
    "ACCESS_DENIED", "API_CONFIGURATION_ERROR", "AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE",
    "BAD_REQUEST_PARAMETERS", "BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX", "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT", "INVALID_API_KEY", "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN", "QUOTA_EXCEEDED", "REQUEST_TOO_LARGE", "RESOURCE_NOT_FOUND", "THROTTLED",
    "UNAUTHORIZED", "UNSUPPORTED_MEDIA_TYPE", "WAF_FILTERED",
}
PROPERTIES = {"StatusCode", "ResponseTemplates", "ResponseParameters"}


def gateway_responses() -> dict[str, Any]:
    return dict(GATEWAY_RESPONSES)


def test_the_template_replaces_api_gateways_default_error_answers() -> None:
    assert set(gateway_responses()) >= REQUIRED


def test_an_unknown_path_is_404_not_found() -> None:
    response = gateway_responses()["MISSING_AUTHENTICATION_TOKEN"]
    assert str(response["StatusCode"]) == "404"
    assert json.loads(response["ResponseTemplates"]["application/json"]) == {"error": NOT_FOUND}


def test_every_entry_is_a_known_response_type_with_known_properties() -> None:
    for kind, response in gateway_responses().items():
        assert kind in RESPONSE_TYPES, kind
        assert set(response) <= PROPERTIES, (kind, response)
        assert set(response["ResponseTemplates"]) == {"application/json"}, kind
        if "StatusCode" in response:
            assert 400 <= int(response["StatusCode"]) <= 599, kind


@pytest.mark.parametrize("kind", sorted(gateway_responses()))
def test_each_answer_is_a_fixed_error_object(kind: str) -> None:
    response = gateway_responses()[kind]
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    # No mapping-template variable at all: $context.error.message is what repeats the headers.
    assert "$" not in response["ResponseTemplates"]["application/json"]


def test_chalice_packages_the_same_gateway_responses() -> None:
    """`make package` merges them into the API that `chalice package` generates (its RestAPI)."""
    merged = merge_template()["Resources"][CHALICE_API]["Properties"]["GatewayResponses"]
    assert merged == gateway_responses()
    recipe = (ROOT / "Makefile").read_text()
    assert "-m infra.gateway_responses build/gateway-responses.json" in recipe
    assert re.search(r"\$\(CHALICE\) package --stage dev\s*(\\\s*)?--merge-template build/gateway-responses\.json",
                     recipe)
