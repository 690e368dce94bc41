"""model/polling.py and model/providers.py: the effective spec, placeholders, dotted paths, what a
status answer means, the interval, origins. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.model.limits import MAX_ERROR_LENGTH, SQS_MAX_DELAY
from taskhook.model.polling import (
    PollFailure,
    PollSpec,
    classify,
    delay_seconds,
    fill,
    has_path,
    next_interval,
    provider_message,
    read_path,
    same_origin,
    start_state,
)
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

REPLICATE_SUBMIT = {"id": "p1", "status": "starting",
                    "urls": {"get": "https://api.fake/v1/predictions/p1",
                             "cancel": "https://api.fake/v1/predictions/p1/cancel"}}
FAL_SUBMIT = {"request_id": "r1", "status_url": "https://queue.fake/m/requests/r1/status",
              "response_url": "https://queue.fake/m/requests/r1", "cancel_url": "https://queue.fake/m/requests/r1/cancel"}


def task(provider: str | None = None, config: dict[str, Any] | None = None) -> Task:
    return Task(id="t", teamId="a", status=TaskStatus.PENDING, targetUrl="https://api.fake/v1/predictions",
                createdAt="2024-01-01T00:00:00.000Z", provider=provider, pollConfig=config)


def spec(provider: str | None = None, **config: Any) -> PollSpec:
    result = PollSpec.of(task(provider, config or None))
    assert result is not None
    return result


def test_a_task_without_provider_or_poll_config_does_not_poll() -> None:
    assert PollSpec.of(task()) is None


def test_the_replicate_template() -> None:
    s = spec("replicate")
    assert (s.urlTemplate, s.statusPath, s.doneValues, s.failValues) == (
        "{{urls.get}}", "status", ("succeeded",), ("failed", "canceled", "aborted"))
    assert (s.errorPath, s.outputPath, s.cancelUrlTemplate, s.cancelMethod) == ("error", "output", "{{urls.cancel}}",
                                                                                 "POST")
    assert (s.intervalSeconds, s.intervalGrowth, s.maxIntervalSeconds) == (5, 1.5, 60)


def test_the_fal_template_and_an_override() -> None:
    s = spec("fal", intervalSeconds=1, cancelMethod="DELETE")
    assert (s.urlTemplate, s.doneValues, s.failValues, s.resultUrlTemplate) == (
        "{{status_url}}", ("COMPLETED",), (), "{{response_url}}")
    assert (s.intervalSeconds, s.cancelMethod, s.cancelUrlTemplate, s.outputPath) == (1, "DELETE", "{{cancel_url}}",
                                                                                       None)


def test_a_row_missing_a_required_field_cannot_poll() -> None:
    with pytest.raises(PollFailure, match=r"pollConfig.statusPath is required"):
        PollSpec.of(task(None, {"urlTemplate": "{{u}}"}))


def test_read_path_dotted_with_list_indexes() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": "two"}]}, "z": None}
    assert read_path(doc, "a.b.1.c") == "two"
    assert read_path(doc, "a.b.-1.c") == "two"
    assert not has_path(doc, "a.b.2.c") and not has_path(doc, "a.x") and not has_path(doc, "a.b.c")
    assert has_path(doc, "z") and read_path(doc, "z") is None


def test_a_whole_placeholder_is_inserted_as_is_and_a_partial_one_percent_encoded() -> None:
    assert fill("{{urls.get}}", REPLICATE_SUBMIT, "urlTemplate") == "https://api.fake/v1/predictions/p1"
    assert fill(" {{ urls.get }} ", REPLICATE_SUBMIT, "urlTemplate") == "https://api.fake/v1/predictions/p1"
    assert fill("https://h/jobs/{{id}}/s?x={{n}}", {"id": "a/b c?", "n": 3}, "urlTemplate") == (
        "https://h/jobs/a%2Fb%20c%3F/s?x=3")


@pytest.mark.parametrize("document", [{}, {"urls": {}}, {"urls": {"get": None}}, {"urls": {"get": ""}}, [], "x"])
def test_a_placeholder_with_no_value_fails_clearly(document: Any) -> None:
    with pytest.raises(PollFailure) as caught:
        fill("{{urls.get}}", document, "urlTemplate")
    assert str(caught.value) == "pollConfig.urlTemplate: submit answer has no urls.get"


def test_start_state_fills_every_url_once() -> None:
    assert start_state(spec("fal"), FAL_SUBMIT) == {
        "statusUrl": FAL_SUBMIT["status_url"], "resultUrl": FAL_SUBMIT["response_url"],
        "cancelUrl": FAL_SUBMIT["cancel_url"], "cancelMethod": "PUT", "polls": 0, "errors": 0, "interval": 5}


def test_start_state_without_a_cancel_url_leaves_it_out_but_a_missing_result_url_fails() -> None:
    state = start_state(spec("replicate"), {"urls": {"get": "https://api.fake/p"}})
    assert "cancelUrl" not in state and state["statusUrl"] == "https://api.fake/p"
    with pytest.raises(PollFailure, match="pollConfig.resultUrlTemplate: submit answer has no response_url"):
        start_state(spec("fal"), {"status_url": "https://q.fake/s"})


@pytest.mark.parametrize("url", ["ftp://x/y", "javascript:alert(1)", "https://user@h/x", "not a url"])
def test_a_filled_url_must_be_http(url: str) -> None:
    with pytest.raises(PollFailure, match="pollConfig.urlTemplate: the filled URL is not a valid HTTP/HTTPS URL"):
        start_state(spec("replicate"), {"urls": {"get": url}})


def test_classify_done_failed_pending_unreadable() -> None:
    s = spec("replicate")
    assert classify(s, {"status": "succeeded"}).kind == "done"
    assert classify(s, {"status": "processing"}).kind == "pending"
    failed = classify(s, {"status": "failed", "error": "CUDA out of memory"})
    assert (failed.kind, failed.error) == ("failed", "CUDA out of memory")
    assert classify(s, {"status": "canceled", "error": None}).error == "provider reported canceled"
    assert classify(s, {"status": "failed", "error": {"code": 7}}).error == '{"code":7}'
    assert len(classify(s, {"status": "failed", "error": "x" * 5000}).error or "") == MAX_ERROR_LENGTH
    assert classify(s, {"nothing": 1}).kind == "unreadable"
    custom = spec(None, urlTemplate="{{u}}", statusPath="job.state.0", doneValues=["1", "true"], failValues=["false"])
    assert classify(custom, {"job": {"state": [1]}}).kind == "done"
    assert classify(custom, {"job": {"state": [True]}}).kind == "done"
    assert classify(custom, {"job": {"state": [False]}}).kind == "failed"


@pytest.mark.parametrize(("body", "message"), [
    (b'{"detail": "Unprocessable: prompt missing"}', "Unprocessable: prompt missing"),
    (b'{"detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]}', "field required"),
    (b'{"error": {"message": "bad key"}}', "bad key"),
    (b'{"message": "nope"}', "nope"),
    (b"<html>\n  Bad   gateway</html>", "<html> Bad gateway</html>"),
    (b"", "(empty answer)"),
])
def test_provider_message(body: bytes, message: str) -> None:
    assert provider_message(body) == message


def test_next_interval_grows_to_its_cap_and_honours_retry_after() -> None:
    s = spec("replicate", intervalSeconds=2, intervalGrowth=2, maxIntervalSeconds=10)
    assert [next_interval(s, x) for x in (2, 4, 8, 10)] == [4, 8, 10, 10]
    assert next_interval(s, 2, retry_after=30) == 30
    assert next_interval(s, 2, retry_after=10_000) == SQS_MAX_DELAY
    assert next_interval(spec("fal", intervalSeconds=1, intervalGrowth=1), 1) == 1
    assert delay_seconds(1.2) == 2 and delay_seconds(0) == 1 and delay_seconds(5000) == SQS_MAX_DELAY


def test_same_origin_is_scheme_host_and_port() -> None:
    assert same_origin("https://api.fake/v1/p/1", "https://API.fake:443/v1/predictions")
    assert not same_origin("http://api.fake/v1/p/1", "https://api.fake/v1/predictions")
    assert not same_origin("https://api.fake:8443/x", "https://api.fake/x")
    assert not same_origin("https://cdn.fake/x", "https://api.fake/x")
    assert not same_origin("not a url", "https://api.fake/x")


# ---- the create request's pollConfig (intake/validation.py) ------------------------------------

def _request(**fields: Any) -> Any:
    from taskhook.intake.validation import parse_create_request

    return parse_create_request({"targetUrl": "https://api.fake/v1/predictions", **fields})


def _error(**fields: Any) -> str:
    from taskhook.model.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        _request(**fields)
    return str(caught.value)


def test_with_a_provider_poll_config_may_be_partial_and_only_what_was_sent_is_kept() -> None:
    request = _request(provider="fal", pollConfig={"intervalSeconds": 1})
    assert request.model_dump(exclude_none=True)["pollConfig"] == {"intervalSeconds": 1}
    assert _request(provider="replicate", pollConfig={}).pollConfig is not None


def test_without_a_provider_the_seeds_four_fields_are_required() -> None:
    assert _error(pollConfig={"urlTemplate": "{{u}}", "statusPath": "s", "doneValues": ["d"]}) == (
        "pollConfig.failValues is required")
    assert _error(pollConfig={"statusPath": "s"}) == "pollConfig.urlTemplate is required"


def test_unknown_poll_config_fields_are_named_even_with_a_provider() -> None:
    assert _error(provider="fal", pollConfig={"intervalSecs": 1}) == "Unknown field: pollConfig.intervalSecs"


@pytest.mark.parametrize("fields", [{"provider": "replicate"}, {"provider": "fal", "pollConfig": {}},
                                    {"pollConfig": {"urlTemplate": "{{u}}", "statusPath": "s", "doneValues": ["d"],
                                                    "failValues": []}}])
def test_a_polling_task_without_max_wait_time_gets_the_provider_default(fields: dict[str, Any]) -> None:
    from taskhook.model.limits import PROVIDER_MAX_WAIT_TIME

    assert _request(**fields).maxWaitTime == PROVIDER_MAX_WAIT_TIME == 3600
    assert _request(**fields, maxWaitTime=45).maxWaitTime == 45
    assert _request().maxWaitTime == 30  # not a polling task
