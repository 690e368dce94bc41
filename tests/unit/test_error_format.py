"""Every error the app answers is `{"error": …}`, including the ones Chalice makes itself (issue 11:
a 415 answered Chalice's `{"Code": …, "Message": …}`), and none repeats the request."""

from __future__ import annotations

import json

from chalice import Chalice
from chalice.test import Client

from functions.responses import json_response, uniform_errors


def app() -> Chalice:
    demo = Chalice(app_name="errors")
    demo.register_middleware(uniform_errors, "http")

    @demo.route("/things", methods=["POST"], content_types=["application/json"])
    def create() -> object:
        return json_response({"ok": True}, 201)

    @demo.route("/broken", methods=["GET"])
    def broken() -> object:
        raise RuntimeError("secret detail")

    @demo.route("/teapot", methods=["GET"])
    def teapot() -> object:
        return json_response({"Code": "Mine", "Message": "a body of my own"}, 200)

    return demo


def call(method: str, path: str, **kwargs: object) -> tuple[int, dict[str, object], dict[str, str]]:
    with Client(app()) as client:
        response = client.http.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response.status_code, json.loads(response.body), response.headers


def test_chalices_415_is_an_error_object_without_the_content_type() -> None:
    status, body, headers = call("POST", "/things", headers={"Content-Type": "application/x-probe"}, body=b"<x/>")
    assert (status, body) == (415, {"error": "Content-Type must be application/json"})
    assert headers["Content-Type"] == "application/json"


def test_chalices_405_is_an_error_object_and_keeps_allow() -> None:
    status, body, headers = call("DELETE", "/things")
    assert (status, body) == (405, {"error": "Method not allowed"})
    assert headers["Allow"] == "POST"


def test_an_unhandled_exception_is_a_bare_500() -> None:
    status, body, _ = call("GET", "/broken")
    assert (status, body) == (500, {"error": "Internal error"})


def test_a_successful_answer_is_left_alone() -> None:
    assert call("POST", "/things", headers={"Content-Type": "application/json"}, body=b"{}")[:2] == (201, {"ok": True})
    assert call("GET", "/teapot")[:2] == (200, {"Code": "Mine", "Message": "a body of my own"})
