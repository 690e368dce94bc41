"""Issue 11, items 2 and 6: the one URL parser (model/urls.py) and the create-time checks that use it.

Each URL form below got past the create-time check, or was read differently by the check and by
the HTTP client that connects, before the parser was shared."""

from __future__ import annotations

from typing import Any

import pytest
from urllib3.util import parse_url

from taskhook.adapters.http import OutboundPolicy
from taskhook.intake.function_tasks import FunctionTaskService, parse_named_task_request
from taskhook.intake.tasks import TaskService
from taskhook.intake.validation import parse_create_request
from taskhook.model.errors import BlockedTarget, ValidationFailed
from taskhook.model.urls import InvalidUrl, canonical_host, is_http_url, parse_http_url
from taskhook.run.functions.registry import Registry, load_task_modules
from tests.support.fakes import InMemoryTaskRepository

PUBLIC = "93.184.216.34"


def public_dns(host: str) -> list[str]:
    return [PUBLIC]


# ---- the parser ------------------------------------------------------------------------------

SMUGGLED = [
    "http://127.0.0.1:19916\\@127.0.0.2:19915/",  # urllib.parse: host 127.0.0.2; urllib3: 127.0.0.1
    "http://%31%36%39.254.169.254/",  # urllib3 decodes it to 169.254.169.254
    "http://user@example.com/",
    "http://example.com@169.254.169.254/",
    "http://:@example.com/",
    "http://exa\x00mple.com/",
    "http://example.com/\x00",
    "http://example.com\r\nX-Injected: 1/",
    "http://example.com/a\tb",
    "http://example.com/a b",
    "http://example.com\\foo/",
    "http://example.com/path\\x",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.01/",
    "http://1.2.3.0x4/",
    "http://１２７.0.0.1/",  # fullwidth digits: IDNA would map them to 127
    "http://bücher.example/",  # non-ASCII: send the xn-- form
    "http://[fe80::1%25eth0]/",
    "http://[::1/",
    "http://example.com:0/",
    "http://example.com:65536/",
    "http://example.com:+80/",
    "http://example..com/",
    "http://169.254.169.254../",
    "ftp://example.com/",
    "http:///no-host",
    "//example.com/",
    "",
    "http://" + "a" * 2100 + ".com/",
]


@pytest.mark.parametrize("url", SMUGGLED)
def test_the_parser_refuses_forms_that_hide_or_disguise_the_host(url: str) -> None:
    with pytest.raises(InvalidUrl):
        parse_http_url(url)
    assert is_http_url(url) is False


@pytest.mark.parametrize(("url", "host", "port", "sent"), [
    ("http://169.254.169.254./", "169.254.169.254", 80, "http://169.254.169.254/"),
    ("https://Example.COM./hook?x=1", "example.com", 443, "https://example.com/hook?x=1"),
    ("HTTP://example.com:8080", "example.com", 8080, "http://example.com:8080/"),
    ("http://[::1]:9000/x", "::1", 9000, "http://[::1]:9000/x"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:7f00:1", 80, "http://[::ffff:7f00:1]/"),
    ("https://xn--bcher-kva.example/a#frag", "xn--bcher-kva.example", 443, "https://xn--bcher-kva.example/a"),
    ("http://my_host.internal/", "my_host.internal", 80, "http://my_host.internal/"),
    ("http://8.8.8.8/", "8.8.8.8", 80, "http://8.8.8.8/"),
])
def test_the_parser_normalises_the_host_it_will_connect_to(url: str, host: str, port: int, sent: str) -> None:
    parsed = parse_http_url(url)
    assert (parsed.host, parsed.port, parsed.url) == (host, port, sent)
    # What is sent parses to the same host again (urllib3 reads it the way we did).
    assert canonical_host(str(parse_url(parsed.url).host)) == host


def test_a_trailing_dot_is_the_same_host_as_without_it() -> None:
    assert parse_http_url("http://169.254.169.254./").host == parse_http_url("http://169.254.169.254/").host
    assert canonical_host("internal.example.") == canonical_host("INTERNAL.example")


# ---- OutboundPolicy.check_url uses it ---------------------------------------------------------


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"{host} must not be resolved")


@pytest.mark.parametrize("url", ["http://169.254.169.254./", "http://169.254.169.254./latest/meta-data/",
                                 "http://127.0.0.1./", "http://[::ffff:169.254.169.254]/"])
def test_check_url_refuses_a_metadata_address_with_a_trailing_dot_without_resolving(url: str) -> None:
    with pytest.raises(BlockedTarget, match="^targetUrl resolves to a private, loopback or link-local address: "
                                            "destination not allowed$"):
        OutboundPolicy(resolve=no_dns).check_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:19916\\@127.0.0.2:19915/", "http://%31%36%39.254.169.254/",
                                 "http://0x7f.1/", "http://2130706433/", "http://exa\x00mple.com/"])
def test_check_url_refuses_disguised_hosts_as_invalid_urls(url: str) -> None:
    with pytest.raises(BlockedTarget, match="^callback_url must be a valid HTTP/HTTPS URL$"):
        OutboundPolicy(resolve=public_dns).check_url(url, field="callback_url")


def test_the_refusal_does_not_name_the_resolved_address() -> None:
    policy = OutboundPolicy(resolve=lambda host: ["10.20.30.40"])
    with pytest.raises(BlockedTarget) as caught:
        policy.check_url("https://internal.example/")
    assert "10.20.30.40" not in str(caught.value)


# ---- create time: targetUrl, onCompleteUrl (POST /v1/tasks) ------------------------------------

ISSUE_URLS = ["http://127.0.0.1:19916\\@127.0.0.2:19915/", "http://169.254.169.254./",
              "http://%31%36%39.254.169.254/"]


@pytest.mark.parametrize("field", ["targetUrl", "onCompleteUrl"])
@pytest.mark.parametrize("url", ISSUE_URLS)
def test_v1_create_refuses_the_issue_urls(field: str, url: str) -> None:
    repo = InMemoryTaskRepository()
    service = TaskService(repo, outbound=OutboundPolicy(resolve=public_dns))
    body: dict[str, Any] = {"targetUrl": "https://ok.example/", field: url}
    with pytest.raises(ValidationFailed) as caught:
        service.new_task("team", parse_create_request(body))
    assert caught.value.message.startswith(f"{field} ")
    assert repo.writes == 0


def test_the_backslash_userinfo_url_is_refused_where_only_the_decoy_host_is_allowed() -> None:
    # The old check read host 127.0.0.2 (allowed here) while urllib3 connected to 127.0.0.1.
    service = TaskService(InMemoryTaskRepository(), outbound=OutboundPolicy(allow=("127.0.0.2",), resolve=no_dns))
    with pytest.raises(ValidationFailed, match="^targetUrl must be a valid HTTP/HTTPS URL$"):
        service.new_task("team", parse_create_request({"targetUrl": ISSUE_URLS[0]}))


@pytest.mark.parametrize("host", ["exa\x00mple.com", "example.com\x00.evil", "example.com\r", "exa\x7fmple.com"])
def test_a_control_character_in_the_target_host_is_a_400(host: str) -> None:
    with pytest.raises(ValidationFailed, match="^targetUrl must be a valid HTTP/HTTPS URL$"):
        parse_create_request({"targetUrl": f"http://{host}/"})


@pytest.mark.parametrize("headers", [
    {"X-Token": "abc\x00def"},
    {"X-Token": "abc\rdef"},
    {"X-Token": "abc\ndef"},
    {"X-Token": "\x01"},
    {"X-Token": "abc\x7f"},
    {"X-Token": " leading"},
    {"X-Token": "日本"},  # not ISO-8859-1: http.client would raise UnicodeEncodeError at call time
    {"X-Tok\x00en": "v"},
    {"X-Token\n": "v"},
    {"": "v"},
])
def test_a_control_character_in_a_header_is_a_400(headers: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed, match="^headers must be an object of header names to string values$"):
        parse_create_request({"targetUrl": "https://ok.example/", "headers": headers})


def test_ordinary_headers_are_still_accepted() -> None:
    headers = {"Authorization": "Bearer abc", "X-Tab": "a\tb", "X-Latin": "café", "X-Empty": ""}
    assert parse_create_request({"targetUrl": "https://ok.example/", "headers": headers}).headers == headers


# ---- create time: callback_url and fetch_url's url (function tasks) ----------------------------


@pytest.fixture(scope="module")
def builtin() -> Registry:
    return load_task_modules(("builtin",))


def function_service(registry: Registry, resolve: Any = public_dns) -> tuple[FunctionTaskService,
                                                                              InMemoryTaskRepository]:
    repo = InMemoryTaskRepository()
    return FunctionTaskService(repo, registry, outbound=OutboundPolicy(resolve=resolve)), repo


@pytest.mark.parametrize("url", ["https://127.0.0.1:19916/", "http://169.254.169.254./", "http://[::1]/",
                                 "http://10.0.0.1/", "http://localhost:19916/"])
def test_fetch_url_refuses_a_forbidden_url_at_creation(builtin: Registry, url: str) -> None:
    service, repo = function_service(builtin, resolve=lambda host: ["127.0.0.1"])
    with pytest.raises(ValidationFailed) as caught:
        service.start("team", "builtin", "fetch_url", {"url": url})
    assert caught.value.status_code == 400
    assert caught.value.message == ("Invalid arguments for builtin.fetch_url: url resolves to a private, "
                                    "loopback or link-local address: destination not allowed")
    assert repo.writes == 0


@pytest.mark.parametrize("url", ISSUE_URLS[::2] + ["http://0177.0.0.1/", "http://ex\x00ample.com/"])
def test_fetch_url_refuses_a_disguised_url_at_creation(builtin: Registry, url: str) -> None:
    service, _ = function_service(builtin)
    with pytest.raises(ValidationFailed, match="^Invalid arguments for builtin.fetch_url: url: Value error, "
                                               "must be an http\\(s\\) URL$"):
        service.start("team", "builtin", "fetch_url", {"url": url})


def test_fetch_url_refuses_control_characters_in_its_headers(builtin: Registry) -> None:
    service, _ = function_service(builtin)
    with pytest.raises(ValidationFailed, match="^Invalid arguments for builtin.fetch_url: headers: "):
        service.start("team", "builtin", "fetch_url", {"url": "https://ok.example/", "headers": {"X": "a\x00"}})


def test_fetch_url_with_a_public_url_is_created(builtin: Registry) -> None:
    service, _ = function_service(builtin)
    task = service.start("team", "builtin", "fetch_url", {"url": "https://files.example/report.pdf"})
    assert task.args is not None and task.args["url"] == "https://files.example/report.pdf"


@pytest.mark.parametrize("url", ISSUE_URLS)
def test_callback_url_refuses_the_issue_urls(builtin: Registry, url: str) -> None:
    service, _ = function_service(builtin)
    with pytest.raises(ValidationFailed, match="^callback_url "):
        request = parse_named_task_request({"task_name": "builtin.fetch_url",
                                            "task_data": {"url": "https://ok.example/"}, "callback_url": url})
        service.start_named("team", request)
