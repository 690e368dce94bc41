"""A provider task's output files (run/provider_outputs.py): which files a result names, and their
copy through the guarded session into the object store (the in-memory fake), from a TargetServer
that plays the provider's file host under several host names (a resolver of the test's own)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from taskhook.adapters.downloads import SessionDownloader
from taskhook.adapters.http import OutboundPolicy, TeamSessions
from taskhook.intake.views import v1_task
from taskhook.model.errors import Busy
from taskhook.model.outputs import DownloadFailed, DownloadLinks
from taskhook.model.polling import PollSpec
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.provider_outputs import FileRef, ProviderOutputs, named_files
from taskhook.run.vault import TokenUnavailable
from tests.support.fakes import InMemoryObjectStore
from tests.support.targets import TargetServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
HOSTS = {"api.provider.test": ["127.0.0.1"], "files.provider.test": ["127.0.0.1"],
         "cdn.other.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]}
REPLICATE = PollSpec.from_config("replicate", None)
FAL = PollSpec.from_config("fal", None)
AUTH = {"Authorization": "Token r8_secret", "X-Provider-Key": "k-123"}


def custom(output_path: str | None) -> PollSpec:
    spec = PollSpec.from_config(None, {"urlTemplate": "{{status}}", "statusPath": "s", "doneValues": ["done"],
                                       "failValues": ["failed"], "outputPath": output_path})
    assert spec is not None
    return spec


class Provider:
    """The fake provider's hosts, all served by one TargetServer on loopback."""

    def __init__(self, server: TargetServer) -> None:
        self.server = server
        self.port = server.base.rsplit(":", 1)[1]

    def url(self, host: str, path: str, script: list[Any] | None = None) -> str:
        self.server.url(path, script)
        return f"http://{host}:{self.port}{path}"

    def file(self, path: str, body: bytes = PNG, content_type: str = "image/png", host: str = "files.provider.test",
             **headers: str) -> str:
        return self.url(host, path, [{"body": body, "headers": {"Content-Type": content_type, **headers}}])


@pytest.fixture
def provider() -> Iterator[Provider]:
    with TargetServer() as server:
        yield Provider(server)


class Headers:
    """The task's headers as the executor sends them; counts how often they were asked for."""

    def __init__(self, headers: Mapping[str, str] = AUTH, error: Exception | None = None) -> None:
        self.headers = dict(headers)
        self.error = error
        self.asked = 0

    def __call__(self, task: Task) -> Mapping[str, str]:
        self.asked += 1
        if self.error is not None:
            raise self.error
        return self.headers


def outputs(store: InMemoryObjectStore, headers: Headers | None = None, **limits: Any) -> ProviderOutputs:
    policy = OutboundPolicy(allow=("127.0.0.1/32",), resolve=lambda host: HOSTS[host])
    return ProviderOutputs(store, SessionDownloader(TeamSessions(policy), max_redirects=3), headers or Headers(),
                           **limits)


def task(fake: Provider, **fields: Any) -> Task:
    data: dict[str, Any] = {"id": "tsk_1", "teamId": "team-a", "status": TaskStatus.POLLING,
                            "targetUrl": fake.url("api.provider.test", "/v1/predictions"),
                            "headers": dict(AUTH), "provider": "replicate", "createdAt": "2024-01-15T10:30:00.000Z"}
    data.update(fields)
    return Task.model_validate(data)


# ---- which files a result names ---------------------------------------------------------------

def test_replicate_output_as_one_url() -> None:
    result = {"status": "succeeded", "output": "https://replicate.delivery/xezq/abc/out-0.png", "id": "p1"}
    assert named_files(result, REPLICATE.outputPath, "replicate") == [
        FileRef("https://replicate.delivery/xezq/abc/out-0.png")]


def test_replicate_output_as_a_list_keeps_urls_and_skips_text() -> None:
    result = {"output": ["https://replicate.delivery/a/out-0.png", "a cat", "https://replicate.delivery/a/out-1.png",
                         "https://replicate.delivery/a/out-0.png", 42, None]}
    assert [r.url for r in named_files(result, "output", "replicate")] == [
        "https://replicate.delivery/a/out-0.png", "https://replicate.delivery/a/out-1.png"]


def test_a_language_models_text_output_names_no_file() -> None:
    assert named_files({"output": ["Hello", " world", "http", "://x"]}, "output", "replicate") == []
    assert named_files({"output": None}, "output", "replicate") == []
    assert named_files({"status": "succeeded"}, "output", "replicate") == []


def test_fal_file_objects_are_found_anywhere() -> None:
    result = {
        "images": [{"url": "https://v3.fal.media/files/a.png", "content_type": "image/png", "file_name": "a.png",
                    "width": 1024}],
        "video": {"url": "https://v3.fal.media/files/b.mp4"},
        "nested": {"deeper": [[{"audio_file": {"url": "https://v3.fal.media/files/c.wav", "file_size": 9}}]]},
        "prompt": "https://example.com/not-a-file-just-text",
        "seed": 7,
    }
    assert named_files(result, FAL.outputPath, "fal") == [
        FileRef("https://v3.fal.media/files/a.png", "a.png", "image/png"),
        FileRef("https://v3.fal.media/files/b.mp4"),
        FileRef("https://v3.fal.media/files/c.wav"),
    ]


def test_a_custom_output_path_names_urls_and_file_objects() -> None:
    result = {"data": {"files": [{"url": "https://cdn.example.com/1.csv", "file_name": "report.csv"},
                                 "https://cdn.example.com/2.json"]},
              "other": "https://cdn.example.com/not-named.png"}
    assert named_files(result, custom("data.files").outputPath, None) == [
        FileRef("https://cdn.example.com/1.csv", "report.csv"), FileRef("https://cdn.example.com/2.json")]
    assert [r.url for r in named_files(result, "data.files.1", None)] == ["https://cdn.example.com/2.json"]


def test_a_custom_poll_config_without_an_output_path_names_no_file() -> None:
    assert named_files({"video": {"url": "https://cdn.example.com/v.mp4"}}, custom(None).outputPath, None) == []


def test_urls_that_are_not_http_are_not_files() -> None:
    result = {"output": ["file:///etc/passwd", "ftp://x/y", "data:image/png;base64,AAAA", "javascript:alert(1)",
                         "https://" + "a" * 3000 + ".com/x", {"url": "gopher://x/y"}]}
    assert named_files(result, "output", "replicate") == []


def test_a_deeply_nested_result_does_not_exhaust_the_stack() -> None:
    deep: Any = {"url": "https://v3.fal.media/files/deep.png"}
    for _ in range(5000):
        deep = {"next": [deep]}
    assert [r.url for r in named_files(deep, None, "fal")] == ["https://v3.fal.media/files/deep.png"]


# ---- copying ----------------------------------------------------------------------------------

def test_a_replicate_url_output_is_copied_with_its_bytes_and_content_type(provider: Provider) -> None:
    store = InMemoryObjectStore()
    url = provider.file("/xezq/abc/out-0.png")

    entries = outputs(store).copy(task(provider), {"status": "succeeded", "output": url}, REPLICATE)

    key = "outputs/team-a/tsk_1/0-out-0.png"
    assert entries == [{"key": key, "contentType": "image/png", "size": len(PNG), "filename": "out-0.png",
                        "source": url}]
    assert store.objects == {key: (PNG, "image/png")}


def test_a_replicate_list_of_urls_is_copied_in_order(provider: Provider) -> None:
    store = InMemoryObjectStore()
    first = provider.file("/a/out-0.webp", b"first", "image/webp")
    second = provider.file("/a/out-0.txt", "second ✓".encode(), "text/plain; charset=utf-8", host="cdn.other.test")

    entries = outputs(store).copy(task(provider), {"output": [first, "a caption", second]}, REPLICATE)

    assert [(e["key"], e["contentType"], e["size"], e["source"]) for e in entries] == [
        ("outputs/team-a/tsk_1/0-out-0.webp", "image/webp", 5, first),
        ("outputs/team-a/tsk_1/1-out-0.txt", "text/plain; charset=utf-8", len("second ✓".encode()), second),
    ]
    assert store.objects["outputs/team-a/tsk_1/1-out-0.txt"] == ("second ✓".encode(), "text/plain; charset=utf-8")


def test_fal_file_objects_are_copied_under_their_file_names(provider: Provider) -> None:
    store = InMemoryObjectStore()
    image = provider.file("/files/rabbit/x1.png")
    video = provider.file("/files/rabbit/clip", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    result = {"images": [{"url": image, "content_type": "image/png", "file_name": "../../a cat (1).png"}],
              "video": {"url": video}, "seed": 1}

    entries = outputs(store).copy(task(provider, provider="fal"), result, FAL)

    assert [(e["filename"], e["contentType"], e["key"]) for e in entries] == [
        ("a_cat_1_.png", "image/png", "outputs/team-a/tsk_1/0-a_cat_1_.png"),
        ("clip", "video/mp4", "outputs/team-a/tsk_1/1-clip"),
    ]
    assert store.objects["outputs/team-a/tsk_1/1-clip"][0] == b"\x00\x00\x00\x18ftypmp42"


def test_a_custom_output_path_is_copied(provider: Provider) -> None:
    store = InMemoryObjectStore()
    url = provider.file("/export/7", b"id,total\n1,2\n", "text/csv")

    entries = outputs(store).copy(task(provider, provider=None), {"result": {"files": [{"url": url}]}},
                                  custom("result.files"))

    assert [(e["contentType"], e["size"], e["filename"]) for e in entries] == [("text/csv", 13, "7")]


def test_an_octet_stream_answer_keeps_the_content_type_the_result_gives(provider: Provider) -> None:
    store = InMemoryObjectStore()
    declared = provider.file("/files/a", b"bytes", "application/octet-stream")
    by_name = provider.file("/files/b.mp3", b"bytes", "binary/octet-stream")
    unknown = provider.file("/files/c", b"bytes", "application/octet-stream")
    result = {"a": {"url": declared, "content_type": "image/jpeg"}, "b": {"url": by_name}, "c": {"url": unknown}}

    entries = outputs(store).copy(task(provider, provider="fal"), result, FAL)

    assert [e["contentType"] for e in entries] == ["image/jpeg", "audio/mpeg", "application/octet-stream"]


def test_a_url_resolving_to_a_blocked_address_is_not_fetched(provider: Provider) -> None:
    store = InMemoryObjectStore()
    blocked = f"http://metadata.test:{provider.port}/latest/meta-data/iam"
    literal = "http://169.254.169.254/latest/meta-data/"
    good = provider.file("/ok.png")

    entries = outputs(store).copy(task(provider), {"output": [blocked, literal, good]}, REPLICATE)

    assert entries[:2] == [{"source": blocked, "error": "destination not allowed"},
                           {"source": literal, "error": "destination not allowed"}]
    assert provider.server.calls("/latest/meta-data/iam") == []
    assert entries[2]["key"] == "outputs/team-a/tsk_1/2-ok.png"
    assert list(store.objects) == ["outputs/team-a/tsk_1/2-ok.png"]


def test_a_file_over_the_cap_is_not_stored(provider: Provider) -> None:
    store = InMemoryObjectStore()
    big = provider.file("/big.bin", b"x" * 2048, "application/octet-stream")
    small = provider.file("/small.bin", b"x" * 1024, "application/octet-stream")

    entries = outputs(store, max_bytes=1024).copy(task(provider), {"output": [big, small]}, REPLICATE)

    assert entries[0] == {"source": big, "error": "larger than 1024 bytes"}
    assert entries[1]["size"] == 1024
    assert list(store.objects) == ["outputs/team-a/tsk_1/1-small.bin"]


def test_the_cap_counts_the_bytes_read_not_the_announced_length(provider: Provider) -> None:
    """A gzip-encoded answer announces its compressed length; the decoded bytes pass the cap."""
    store = InMemoryObjectStore()
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    url = provider.file("/bomb.bin", bomb, "application/octet-stream", **{"Content-Encoding": "gzip"})

    entries = outputs(store, max_bytes=1024 * 1024).copy(task(provider), {"output": url}, REPLICATE)

    assert len(bomb) < 1024 * 1024
    assert entries == [{"source": url, "error": "larger than 1 MB"}]
    assert store.objects == {}


def test_at_most_max_files_are_copied(provider: Provider) -> None:
    store = InMemoryObjectStore()
    urls = [provider.file(f"/out-{n}.png") for n in range(5)]

    entries = outputs(store, max_files=3).copy(task(provider), {"output": urls}, REPLICATE)

    assert [e.get("key") for e in entries[:3]] == [f"outputs/team-a/tsk_1/{n}-out-{n}.png" for n in range(3)]
    assert entries[3] == {"source": urls[3],
                          "error": "not copied: at most 3 output files per task (this and 1 more skipped)"}
    assert len(entries) == 4 and len(store.objects) == 3
    assert provider.server.calls("/out-3.png") == [] and provider.server.calls("/out-4.png") == []


def test_a_missing_file_is_reported_and_the_task_keeps_the_others(provider: Provider) -> None:
    store = InMemoryObjectStore()
    gone = provider.url("files.provider.test", "/gone.png", [404])
    good = provider.file("/here.png")

    entries = outputs(store).copy(task(provider), {"output": [gone, good]}, REPLICATE)

    assert entries[0] == {"source": gone, "error": "HTTP 404"}
    assert entries[1]["filename"] == "here.png"


def test_the_task_headers_go_only_to_the_submit_urls_origin(provider: Provider) -> None:
    store = InMemoryObjectStore()
    same = provider.file("/v1/files/abc/content", b"private", "image/png", host="api.provider.test")
    other_host = provider.file("/cdn/pic.png", host="cdn.other.test")
    headers = Headers()

    entries = outputs(store, headers).copy(task(provider), {"output": [same, other_host]}, REPLICATE)

    assert [e.get("size") for e in entries] == [7, len(PNG)]
    [to_submit] = provider.server.calls("/v1/files/abc/content")
    assert (to_submit.headers["Authorization"], to_submit.headers["X-Provider-Key"]) == ("Token r8_secret", "k-123")
    [to_cdn] = provider.server.calls("/cdn/pic.png")
    assert "Authorization" not in to_cdn.headers and "X-Provider-Key" not in to_cdn.headers
    assert headers.asked == 1


class RecordingDownloader:
    """Records the headers each URL would be sent with; downloads nothing."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, str]] = {}

    def download(self, team: str, url: str, headers_for: Any, sink: Any, max_bytes: int, timeout: float) -> Any:
        self.sent[url] = dict(headers_for(url))
        raise DownloadFailed("recorded")


@pytest.mark.parametrize(("url", "gets_headers"), [
    ("https://api.replicate.com/v1/files/abc", True),
    ("https://API.Replicate.com./v1/files/abc", True),  # the same host, written otherwise
    ("https://api.replicate.com:443/v1/files/abc", True),  # the scheme's default port
    ("http://api.replicate.com/v1/files/abc", False),  # another scheme
    ("https://api.replicate.com:8443/v1/files/abc", False),  # another port
    ("https://replicate.delivery/xezq/out-0.png", False),  # another host
    ("https://api.replicate.com.evil.test/v1/files/abc", False),
    ("https://files.api.replicate.com/abc", False),  # a subdomain is another origin
])
def test_the_origin_rule(url: str, gets_headers: bool) -> None:
    downloader = RecordingDownloader()
    submit = Task.model_validate({"id": "tsk_1", "teamId": "team-a", "status": TaskStatus.POLLING,
                                  "targetUrl": "https://api.replicate.com/v1/predictions", "headers": dict(AUTH),
                                  "createdAt": "2024-01-15T10:30:00.000Z"})
    ProviderOutputs(InMemoryObjectStore(), downloader, Headers()).copy(submit, {"output": url}, REPLICATE)
    assert downloader.sent == {url: AUTH if gets_headers else {}}


def test_a_redirect_to_another_origin_does_not_carry_the_task_headers(provider: Provider) -> None:
    store = InMemoryObjectStore()
    final = provider.file("/signed/file.png", host="cdn.other.test")
    start = provider.url("api.provider.test", "/v1/files/abc", [{"status": 302, "headers": {"Location": final}}])

    entries = outputs(store).copy(task(provider), {"output": start}, REPLICATE)

    assert entries[0]["size"] == len(PNG) and entries[0]["source"] == start
    [first] = provider.server.calls("/v1/files/abc")
    assert first.headers["Authorization"] == "Token r8_secret"
    [second] = provider.server.calls("/signed/file.png")
    assert "Authorization" not in second.headers and "X-Provider-Key" not in second.headers


def test_a_redirect_to_a_blocked_address_is_not_followed(provider: Provider) -> None:
    store = InMemoryObjectStore()
    start = provider.url("files.provider.test", "/r", [{"status": 307, "headers": {
        "Location": f"http://metadata.test:{provider.port}/latest/meta-data/"}}])

    entries = outputs(store).copy(task(provider), {"output": start}, REPLICATE)

    assert entries == [{"source": start, "error": "destination not allowed"}]
    assert provider.server.calls("/latest/meta-data/") == []


def test_a_redirect_loop_ends(provider: Provider) -> None:
    store = InMemoryObjectStore()
    loop = provider.url("files.provider.test", "/loop", [{"status": 302, "headers": {"Location": "/loop"}}])

    entries = outputs(store).copy(task(provider), {"output": loop}, REPLICATE)

    assert entries == [{"source": loop, "error": "more than 3 redirects"}]
    assert len(provider.server.calls("/loop")) == 4


def test_no_headers_are_resolved_when_no_file_is_at_the_submit_origin(provider: Provider) -> None:
    headers = Headers(error=AssertionError("must not be asked"))
    entries = outputs(InMemoryObjectStore(), headers).copy(
        task(provider), {"output": provider.file("/x.png", host="cdn.other.test")}, REPLICATE)
    assert entries[0]["size"] == len(PNG) and headers.asked == 0


def test_a_token_that_cannot_be_resolved_skips_the_same_origin_file(provider: Provider) -> None:
    store = InMemoryObjectStore()
    same = provider.file("/v1/files/1", host="api.provider.test")
    other = provider.file("/o.png", host="cdn.other.test")
    headers = Headers(error=TokenUnavailable("token tok_abc is not available"))

    entries = outputs(store, headers).copy(task(provider), {"output": [same, other]}, REPLICATE)

    assert entries[0] == {"source": same, "error": "token tok_abc is not available"}
    assert entries[1]["filename"] == "o.png"
    assert provider.server.calls("/v1/files/1") == []


def test_a_throttled_vault_raises_so_the_completion_is_tried_again(provider: Provider) -> None:
    same = provider.file("/v1/files/1", host="api.provider.test")
    with pytest.raises(Busy):
        outputs(InMemoryObjectStore(), Headers(error=Busy())).copy(task(provider), {"output": same}, REPLICATE)


def test_a_file_with_no_time_left_is_not_fetched(provider: Provider) -> None:
    store = InMemoryObjectStore()
    url = provider.file("/late.png")
    left = iter([60.0, 5.5])

    entries = outputs(store).copy(task(provider), {"output": [provider.file("/first.png"), url]}, REPLICATE,
                                  time_left=lambda: next(left))

    assert entries[1] == {"source": url, "error": "not copied: no time left"}
    assert provider.server.calls("/late.png") == []


def test_a_slow_file_times_out(provider: Provider) -> None:
    url = provider.url("files.provider.test", "/slow.png", [{"sleep": 3}])
    entries = outputs(InMemoryObjectStore(), timeout=1).copy(task(provider), {"output": url}, REPLICATE)
    assert entries == [{"source": url, "error": "timeout after 1s"}]


def test_downloads_at_once_are_bounded_by_the_scratch_space(provider: Provider) -> None:
    """The executor runs a batch's records in threads: with room in /tmp for one file of the cap,
    a second task's file waits for the first, within its own time."""
    store = InMemoryObjectStore()
    copier = outputs(store, max_bytes=1024, scratch_bytes=1024 + 1023, timeout=30)
    held = provider.url("files.provider.test", "/held.png", [{"hang": True}])
    first: list[Any] = []
    worker = threading.Thread(target=lambda: first.extend(copier.copy(task(provider), {"output": held}, REPLICATE)))
    worker.start()
    provider.server.wait_for_calls("/held.png", 1, timeout=10)

    second = copier.copy(task(provider, id="tsk_2"), {"output": provider.file("/next.png")}, REPLICATE,
                         time_left=lambda: 6.5)  # 1.5 s for the file, after the reserve

    provider.server.release()
    worker.join(10)
    assert second == [{"source": f"http://files.provider.test:{provider.port}/next.png",
                       "error": "not copied: no time left (other files were being copied)"}]
    assert provider.server.calls("/next.png") == []
    assert len(first) == 1 and "error" in first[0]  # the held answer ended without a file
    # The slot is free again.
    again = copier.copy(task(provider, id="tsk_3"), {"output": provider.file("/small.png", b"x" * 10)}, REPLICATE)
    assert again[0]["size"] == 10


def test_a_scratch_file_that_cannot_be_made_skips_the_file(provider: Provider, tmp_path: Path) -> None:
    store = InMemoryObjectStore()
    url = provider.file("/a.png")

    entries = outputs(store, scratch_dir=str(tmp_path / "missing")).copy(task(provider), {"output": url}, REPLICATE)

    assert entries == [{"source": url, "error": "not copied: No such file or directory"}]
    assert store.objects == {}


# ---- presentation -------------------------------------------------------------------------------

def test_each_copied_output_gets_a_presigned_download_url() -> None:
    store = InMemoryObjectStore()
    done = Task.model_validate({
        "id": "tsk_1", "teamId": "team-a", "status": TaskStatus.COMPLETED, "createdAt": "2024-01-15T10:30:00.000Z",
        "outputs": [{"key": "outputs/team-a/tsk_1/0-a.png", "contentType": "image/png", "size": 3,
                     "filename": "a.png", "source": "https://cdn/a.png"},
                    {"source": "https://cdn/b.png", "error": "HTTP 404"}]})
    links = DownloadLinks(lambda: store, 600)

    view = v1_task(done, None, links.urls_for_outputs(done))

    assert view["outputs"] == [
        {"filename": "a.png", "contentType": "image/png", "size": 3, "source": "https://cdn/a.png",
         "downloadUrl": "memory://outputs/team-a/tsk_1/0-a.png?expires=600&filename=a.png"},
        {"source": "https://cdn/b.png", "error": "HTTP 404"},
    ]
    assert "key" not in str(view)
    # Seeds 000 and 003 show one download_url: the first copied file when there is no `output`.
    assert links.url_for(done) == "memory://outputs/team-a/tsk_1/0-a.png?expires=600&filename=a.png"


def test_the_task_schema_describes_a_provider_tasks_outputs() -> None:
    import jsonschema

    from taskhook.intake.openapi import build_openapi

    document = build_openapi()
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/Task",
                                                 "components": document["components"]})
    done = Task.model_validate({
        "id": "tsk_1", "teamId": "team-a", "status": TaskStatus.COMPLETED, "createdAt": "2024-01-15T10:30:00.000Z",
        "targetUrl": "https://api.replicate.com/v1/predictions", "provider": "replicate",
        "outputs": [{"key": "k", "contentType": "image/png", "size": 3, "filename": "a.png", "source": "https://c/a"},
                    {"source": "https://c/b", "error": "HTTP 404"}]})
    view = v1_task(done, None, ["https://bucket.example/k?sig", None])

    assert [e.message for e in validator.iter_errors(view)] == []
    item = document["components"]["schemas"]["Task"]["properties"]["outputs"]["items"]
    assert set(item["properties"]) == {"filename", "contentType", "size", "source", "error", "downloadUrl"}
    view["outputs"][0]["size"] = "3"
    assert not validator.is_valid(view)
