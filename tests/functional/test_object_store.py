"""The object store contract (put / put_file / presigned_url), run against the in-memory fake and
against S3 on moto.

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter. A presigned URL is followed the way each store would serve it: for S3, a
get_object of the bucket and key the URL names (with the response overrides it carries), no
HTTP; for the fake, the bytes it holds under the key its URL names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from taskhook.container import container
from tests.support.fakes import InMemoryObjectStore

from .conftest import Provisioned

KEY = "outputs/team-a/task-1/report.csv"


@dataclass(frozen=True)
class Download:
    """What following a presigned URL gives."""

    body: bytes
    content_type: str
    content_disposition: str | None
    expires_in: int


@dataclass
class Store:
    kind: str
    objects: Any  # InMemoryObjectStore | S3ObjectStore
    follow: Callable[[str], Download | None]  # None: the URL names no object


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def _memory_store() -> Store:
    objects = InMemoryObjectStore()

    def follow(url: str) -> Download | None:
        parts = urlsplit(url)
        assert parts.scheme == "memory"
        stored = objects.objects.get(unquote(parts.netloc + parts.path))
        if stored is None:
            return None
        query = _query(url)
        filename = query.get("filename")
        return Download(stored[0], stored[1], f'attachment; filename="{filename}"' if filename else None,
                        int(query["expires"]))

    return Store("memory", objects, follow)


def _s3_store(aws: Provisioned) -> Store:
    bucket = aws.env["OUTPUTS_BUCKET"]
    s3 = aws.client("s3")

    def follow(url: str) -> Download | None:
        parts = urlsplit(url)
        assert parts.scheme == "https"
        path = unquote(parts.path).lstrip("/")
        if parts.netloc.startswith(f"{bucket}."):  # virtual-hosted style
            key = path
        else:  # path style
            assert path.startswith(f"{bucket}/"), url
            key = path.removeprefix(f"{bucket}/")
        query = _query(url)
        extra = {"ResponseContentDisposition": query["response-content-disposition"]} \
            if "response-content-disposition" in query else {}
        try:
            got = s3.get_object(Bucket=bucket, Key=key, **extra)
        except s3.exceptions.NoSuchKey:
            return None
        return Download(got["Body"].read(), got["ContentType"], got.get("ContentDisposition"),
                        int(query["X-Amz-Expires"]))

    return Store("s3", container().object_store, follow)


@pytest.fixture(params=["memory", "s3"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        yield _memory_store()
    else:
        yield _s3_store(request.getfixturevalue("aws"))


# ---- put and presigned_url --------------------------------------------------------------------


def test_put_then_the_presigned_url_serves_the_bytes_and_content_type(store: Store) -> None:
    store.objects.put(KEY, b"id,status\n1,ok\n", "text/csv")

    url = store.objects.presigned_url(KEY, 300)

    assert isinstance(url, str)
    assert store.follow(url) == Download(b"id,status\n1,ok\n", "text/csv", None, 300)


def test_a_presigned_url_with_a_filename_downloads_under_that_name(store: Store) -> None:
    store.objects.put(KEY, b"{}", "application/json")

    url = store.objects.presigned_url(KEY, 60, "result.json")

    assert store.follow(url) == Download(b"{}", "application/json", 'attachment; filename="result.json"', 60)


def test_binary_bytes_round_trip_unchanged(store: Store) -> None:
    data = bytes(range(256)) * 4
    store.objects.put("bodies/task-2", data, "application/octet-stream")

    got = store.follow(store.objects.presigned_url("bodies/task-2", 60))

    assert got is not None and got.body == data and got.content_type == "application/octet-stream"


def test_a_key_with_spaces_and_non_ascii_is_named_by_its_url(store: Store) -> None:
    key = "outputs/team a/task-3/résumé ✓.txt"
    store.objects.put(key, "héllo ✓".encode(), "text/plain; charset=utf-8")
    store.objects.put("outputs/team a/task-3/other.txt", b"other", "text/plain")

    got = store.follow(store.objects.presigned_url(key, 60))

    assert got == Download("héllo ✓".encode(), "text/plain; charset=utf-8", None, 60)


def test_put_again_replaces_the_object_and_its_content_type(store: Store) -> None:
    store.objects.put(KEY, b"first", "text/plain")
    store.objects.put(KEY, b"second, longer", "text/csv")

    got = store.follow(store.objects.presigned_url(KEY, 60))

    assert got is not None and (got.body, got.content_type) == (b"second, longer", "text/csv")


def test_a_presigned_url_is_made_without_the_object_and_serves_it_once_put(store: Store) -> None:
    url = store.objects.presigned_url(KEY, 60)  # signing does not look at the bucket

    assert store.follow(url) is None

    store.objects.put(KEY, b"late", "text/plain")
    got = store.follow(url)
    assert got is not None and got.body == b"late"


# ---- put_file ---------------------------------------------------------------------------------


def test_put_file_returns_the_size_and_keeps_bytes_and_content_type(store: Store, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1024 + b"tail"  # 256 KiB and a bit
    path = tmp_path / "output.bin"
    path.write_bytes(data)

    size = store.objects.put_file("outputs/team-a/task-4/output.bin", str(path), "image/png")

    assert size == len(data)
    got = store.follow(store.objects.presigned_url("outputs/team-a/task-4/output.bin", 120, "output.png"))
    assert got == Download(data, "image/png", 'attachment; filename="output.png"', 120)


def test_put_file_of_an_empty_file_is_size_zero(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")

    assert store.objects.put_file("outputs/team-a/task-5/empty.txt", str(path), "text/plain") == 0

    got = store.follow(store.objects.presigned_url("outputs/team-a/task-5/empty.txt", 60))
    assert got == Download(b"", "text/plain", None, 60)
