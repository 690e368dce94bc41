"""The SSRF guard (DESIGN.md §3 Security): OutboundPolicy.check_url with an injected resolver (no DNS),
and guarded_session against a server on 127.0.0.1 that the test itself opens."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from taskhook.adapters.http import GuardedAdapter, OutboundPolicy, call_target, guarded_session
from taskhook.model.errors import BlockedTarget

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeResolver:
    """DNS as a dictionary; unknown names fail like getaddrinfo does."""

    def __init__(self, answers: dict[str, list[str]] | None = None, error: BaseException | None = None) -> None:
        self.answers = answers or {}
        self.error = error
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if self.error is not None:
            raise self.error
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"{host} must not be resolved")


def inet_aton_resolver(host: str) -> list[str]:
    """What getaddrinfo does for numeric forms (decimal, hex, octal, short): libc's inet_aton, no DNS."""
    return [socket.inet_ntoa(socket.inet_aton(host))]


# ---------------------------------------------------------------------------------------------
# check_url: literal addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/hook?x=1",
        "https://127.255.255.254/",
        "http://[::1]/",
        "http://[::1]:9000/",
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://255.255.255.255/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd00:ec2::254]/",
        "http://[ff02::1]/",
        "http://[ff0e::1]/",
        "http://[::]/",
        "http://169.254.169.254./",  # a trailing dot names the same host
        # IPv6 forms that carry an IPv4 address and that Python's is_global calls global (review
        # of issue 11: http://[::127.0.0.1]:19916/ was accepted and called)
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated)
        "http://[::7f00:1]/",
        "http://[::a9fe:a9fe]/",
        "http://[::ffff:0:7f00:1]/",  # IPv4-translated (SIIT)
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b:1::7f00:1]/",  # local-use NAT64
        "http://[fec0::1]/",  # site-local (deprecated)
    ],
)
def test_refuses_non_global_literal_addresses_without_resolving(url: str) -> None:
    with pytest.raises(BlockedTarget, match="private, loopback or link-local") as caught:
        OutboundPolicy(resolve=no_dns).check_url(url)
    assert str(caught.value).startswith("targetUrl ")


@pytest.mark.parametrize("url", [f"http://{PUBLIC_V4}/", f"https://[{PUBLIC_V6}]/hook", "http://172.32.0.1/",
                                 "http://8.8.8.8:8443/x"])
def test_allows_public_literal_addresses(url: str) -> None:
    OutboundPolicy(resolve=no_dns).check_url(url)


def test_the_refusal_names_the_field_not_the_address() -> None:
    with pytest.raises(BlockedTarget) as caught:
        OutboundPolicy(resolve=no_dns).check_url("http://169.254.169.254/", field="onCompleteUrl")
    assert str(caught.value) == ("onCompleteUrl resolves to a private, loopback or link-local address: "
                                 "destination not allowed")


# ---------------------------------------------------------------------------------------------
# check_url: schemes and shapes


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "ws://example.com/socket",
        "http:///no-host",
        "example.com/hook",
        "",
        "http://public.example@127.0.0.1/",  # userinfo: refused, whatever the host
    ],
)
def test_refuses_anything_but_http_and_https(url: str) -> None:
    with pytest.raises(BlockedTarget, match="^targetUrl must be a valid HTTP/HTTPS URL$"):
        OutboundPolicy(resolve=no_dns).check_url(url)


def test_scheme_refusal_uses_the_field_name() -> None:
    with pytest.raises(BlockedTarget, match="^onCompleteUrl must be a valid HTTP/HTTPS URL$"):
        OutboundPolicy(resolve=no_dns).check_url("ftp://example.com/", field="onCompleteUrl")


# ---------------------------------------------------------------------------------------------
# check_url: host names (fake DNS)


def test_allows_a_host_that_resolves_only_to_public_addresses() -> None:
    dns = FakeResolver({"api.example.com": [PUBLIC_V4, PUBLIC_V6]})
    OutboundPolicy(resolve=dns).check_url("https://api.example.com/webhook")
    assert dns.asked == ["api.example.com"]


@pytest.mark.parametrize(
    ("addresses", "culprit"),
    [
        ([PUBLIC_V4, "10.0.0.7"], "10.0.0.7"),
        (["169.254.169.254"], "169.254.169.254"),
        (["127.0.0.1"], "127.0.0.1"),
        ([PUBLIC_V6, "::1"], "::1"),
        (["::ffff:192.168.0.10"], "::ffff:192.168.0.10"),
        (["fd00::5"], "fd00::5"),
    ],
)
def test_refuses_a_host_when_any_resolved_address_is_not_global(addresses: list[str], culprit: str) -> None:
    policy = OutboundPolicy(resolve=FakeResolver({"rebind.example": addresses}))
    with pytest.raises(BlockedTarget, match="destination not allowed$") as caught:
        policy.check_url("https://rebind.example/x")
    assert culprit not in str(caught.value)  # what a name resolves to is not told


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001", "0177.0.0.1"])
def test_numeric_host_forms_that_mean_loopback_are_refused(host: str) -> None:
    with pytest.raises(BlockedTarget, match="^targetUrl must be a valid HTTP/HTTPS URL$"):
        OutboundPolicy(resolve=inet_aton_resolver).check_url(f"http://{host}/")


@pytest.mark.parametrize("error", [socket.gaierror(socket.EAI_NONAME, "unknown"), UnicodeError("idna"), OSError()])
def test_an_unresolvable_host_passes_now_and_is_checked_at_call_time(error: BaseException) -> None:
    OutboundPolicy(resolve=FakeResolver(error=error)).check_url("https://not-yet.example/")


@pytest.mark.parametrize("error", [socket.gaierror(socket.EAI_NONAME, "unknown"), UnicodeError("idna")])
def test_an_unresolvable_host_is_refused_with_strict_dns(error: BaseException) -> None:
    policy = OutboundPolicy(resolve=FakeResolver(error=error))
    with pytest.raises(BlockedTarget, match="^targetUrl host not-yet.example does not resolve$"):
        policy.check_url("https://not-yet.example/", strict_dns=True)


def test_strict_dns_does_not_affect_resolvable_hosts() -> None:
    OutboundPolicy(resolve=FakeResolver({"ok.example": [PUBLIC_V4]})).check_url("http://ok.example/", strict_dns=True)


# ---------------------------------------------------------------------------------------------
# allow-list


def test_allow_list_by_cidr_opens_that_range_only() -> None:
    dns = FakeResolver({"svc.internal": ["10.1.2.3"], "db.internal": ["192.168.0.9"]})
    policy = OutboundPolicy(allow=("10.0.0.0/8",), resolve=dns)
    policy.check_url("http://10.1.2.3/")
    policy.check_url("http://svc.internal/")
    for url in ("http://192.168.1.1/", "http://db.internal/", "http://127.0.0.1/", "http://169.254.169.254/"):
        with pytest.raises(BlockedTarget):
            policy.check_url(url)


def test_allow_list_cidr_matches_ipv4_mapped_ipv6_addresses() -> None:
    policy = OutboundPolicy(allow=("127.0.0.0/8",), resolve=no_dns)
    policy.check_url("http://[::ffff:127.0.0.1]:8000/")
    with pytest.raises(BlockedTarget):
        policy.check_url("http://[::1]/")  # IPv6 loopback is not in an IPv4 range


def test_allow_list_by_ipv6_cidr() -> None:
    policy = OutboundPolicy(allow=("fd00::/8",), resolve=no_dns)
    policy.check_url("http://[fd00:ec2::254]/")
    with pytest.raises(BlockedTarget):
        policy.check_url("http://[fe80::1]/")


def test_allow_list_single_address_entry() -> None:
    policy = OutboundPolicy(allow=("169.254.169.254",), resolve=no_dns)
    assert policy.address_allowed("169.254.169.254")
    assert not policy.address_allowed("169.254.169.253")


def test_allow_list_by_host_name_skips_resolution_and_ignores_case_and_trailing_dot() -> None:
    policy = OutboundPolicy(allow=("Internal.Example",), resolve=no_dns)
    policy.check_url("http://internal.example/hook")
    policy.check_url("https://INTERNAL.example./hook")


def test_allow_list_host_names_are_exact_not_suffixes() -> None:
    dns = FakeResolver({"evil.internal.example": ["10.0.0.1"], "internal.example.evil.com": ["10.0.0.2"]})
    policy = OutboundPolicy(allow=("internal.example",), resolve=dns)
    for url in ("http://evil.internal.example/", "http://internal.example.evil.com/"):
        with pytest.raises(BlockedTarget):
            policy.check_url(url)


def test_unparseable_allow_entries_are_ignored() -> None:
    policy = OutboundPolicy(allow=("not a cidr", "", "10.0.0.0/33"), resolve=no_dns)
    policy.check_url(f"http://{PUBLIC_V4}/")
    with pytest.raises(BlockedTarget):
        policy.check_url("http://10.0.0.1/")


@pytest.mark.parametrize("value", ["not-an-ip", "", "999.1.1.1", "example.com"])
def test_address_allowed_refuses_what_is_not_an_address(value: str) -> None:
    assert OutboundPolicy().address_allowed(value) is False


def test_address_allowed_strips_brackets_and_zone_ids() -> None:
    policy = OutboundPolicy()
    assert policy.address_allowed(f"[{PUBLIC_V6}]")
    assert not policy.address_allowed("fe80::1%eth0")


@pytest.mark.parametrize("embedded", ["64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b::7f00:1"])
def test_nat64_addresses_embedding_private_ipv4_are_refused(embedded: str) -> None:
    with pytest.raises(BlockedTarget):
        OutboundPolicy(resolve=no_dns).check_url(f"http://[{embedded}]/")


# ---------------------------------------------------------------------------------------------
# guarded_session: the check on the socket actually connected


class CountingHandler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        CountingHandler.hits.append(self.path)
        payload = b"reached"
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def loopback_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def hits(loopback_port: int) -> list[str]:
    CountingHandler.hits = []
    return CountingHandler.hits


def _get(policy: OutboundPolicy, url: str):
    return call_target(guarded_session(policy), "GET", url, {}, None, 5)


def test_loopback_target_is_blocked_without_an_allow_list(loopback_port: int, hits: list[str]) -> None:
    attempt = _get(OutboundPolicy(), f"http://127.0.0.1:{loopback_port}/secret")
    assert attempt.blocked is True
    assert attempt.retryable is False and attempt.final is False
    assert attempt.status_code is None
    assert attempt.error == "destination not allowed"  # no address, nothing about what listens
    assert hits == []  # refused before connecting


def test_the_guard_raises_blocked_target_from_the_session(loopback_port: int, hits: list[str]) -> None:
    with pytest.raises(BlockedTarget, match="^destination not allowed$"):
        guarded_session(OutboundPolicy()).get(f"http://127.0.0.1:{loopback_port}/", timeout=5)
    assert hits == []


def test_the_guard_checks_the_resolved_addresses_not_the_name(loopback_port: int, hits: list[str]) -> None:
    # "localhost" is a name the policy never saw: what counts is every address it resolves to.
    attempt = _get(OutboundPolicy(), f"http://localhost:{loopback_port}/")
    assert attempt.blocked is True
    assert hits == []


def test_an_allow_list_not_covering_loopback_still_blocks(loopback_port: int, hits: list[str]) -> None:
    attempt = _get(OutboundPolicy(allow=("10.0.0.0/8", "internal.example")), f"http://127.0.0.1:{loopback_port}/")
    assert attempt.blocked is True
    assert hits == []


@pytest.mark.parametrize("allow", [("127.0.0.0/8",), ("127.0.0.1",), ("127.0.0.1/32", "10.0.0.0/8")])
def test_loopback_target_is_reached_when_allowed(loopback_port: int, hits: list[str], allow: tuple[str, ...]) -> None:
    attempt = _get(OutboundPolicy(allow=allow), f"http://127.0.0.1:{loopback_port}/ok")
    assert attempt.blocked is False
    assert attempt.status_code == 200
    assert attempt.body == b"reached"
    assert hits == ["/ok"]


def test_an_allowed_host_name_is_reached(loopback_port: int, hits: list[str]) -> None:
    attempt = _get(OutboundPolicy(allow=("localhost",)), f"http://localhost:{loopback_port}/named")
    assert attempt.status_code == 200
    assert hits == ["/named"]


def _ipv6_mapped_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_mapped_works(), reason="no IPv6 sockets here")
def test_an_ipv4_mapped_peer_is_judged_as_its_ipv4_address(loopback_port: int, hits: list[str]) -> None:
    url = f"http://[::ffff:127.0.0.1]:{loopback_port}/mapped"
    assert _get(OutboundPolicy(), url).blocked is True
    assert hits == []
    attempt = _get(OutboundPolicy(allow=("127.0.0.0/8",)), url)
    assert attempt.status_code == 200
    assert hits == ["/mapped"]


def test_guarded_session_ignores_proxy_settings_from_the_environment(
    loopback_port: int, hits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as reserved:  # a bound, non-listening port: a proxy there would refuse
        reserved.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{reserved.getsockname()[1]}"
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        session = guarded_session(OutboundPolicy(allow=("127.0.0.0/8",)))
        assert session.trust_env is False
        attempt = call_target(session, "GET", f"http://127.0.0.1:{loopback_port}/direct", {}, None, 5)
    assert attempt.status_code == 200
    assert hits == ["/direct"]


def test_guarded_session_mounts_the_guarded_adapter_for_both_schemes() -> None:
    session = guarded_session(OutboundPolicy())
    assert isinstance(session.get_adapter("http://example.com/"), GuardedAdapter)
    assert isinstance(session.get_adapter("https://example.com/"), GuardedAdapter)
    assert isinstance(session, requests.Session)


# The local stack opens loopback to its users' targets, but its own services listen there too: the
# emulator (every team's rows and keys, without authentication) and the WebSocket management API.
# Their ports stay refused on every address the allow-list opened (deny_ports).

@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://127.0.0.2:{port}/",
                                 "http://[::ffff:127.0.0.1]:{port}/"])
def test_a_denied_port_is_refused_on_any_address_the_allow_list_opened(loopback_port: int, hits: list[str],
                                                                      url: str) -> None:
    policy = OutboundPolicy(allow=("127.0.0.0/8", "::1", "localhost"), deny_ports=(loopback_port,))
    refused = f"^targetUrl port {loopback_port} is refused here: destination not allowed$"
    with pytest.raises(BlockedTarget, match=refused):
        policy.check_url(url.format(port=loopback_port))
    attempt = _get(policy, url.format(port=loopback_port))
    assert attempt.blocked is True
    assert hits == []
    assert _get(policy, f"http://127.0.0.1:{loopback_port + 1 if loopback_port < 65535 else 1}/").blocked is False


def test_a_denied_port_stays_open_on_public_addresses() -> None:
    policy = OutboundPolicy(allow=("127.0.0.0/8",), deny_ports=(4566,),
                            resolve=FakeResolver({"api.example": [PUBLIC_V4]}))
    policy.check_url("https://api.example:4566/hook")  # somebody else's service on that port
    policy.check_url(f"http://{PUBLIC_V4}:4566/")


def test_the_deny_list_is_read_from_the_environment() -> None:
    from taskhook.config import ENV_OUTBOUND_DENY_PORTS, Settings

    settings = Settings.from_env({ENV_OUTBOUND_DENY_PORTS: "4566, 8001,,not-a-port,70000"})
    assert settings.outbound_deny_ports == (4566, 8001)
