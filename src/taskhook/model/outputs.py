"""Function task outputs: where their files live in S3 and the presigned links clients get."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskhook.model.limits import MAX_FILENAME
from taskhook.model.task import Task

if TYPE_CHECKING:
    from taskhook.ports import Presigner

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, content_type: str | None = None) -> str:
    """A file name safe in an S3 key and a Content-Disposition header: letters, digits, `._-`.
    Without a usable name: `output` plus the content type's usual extension."""
    base = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")[:MAX_FILENAME]
    if base:
        return base
    extension = mimetypes.guess_extension(content_type or "") or ""
    return "output" + extension


def output_key(team_id: str, task_id: str, filename: str) -> str:
    return f"outputs/{team_id}/{task_id}/{filename}"


@dataclass(frozen=True)
class DownloadLinks:
    """Presigned GET URLs for task outputs. `store` is a factory, so that tasks without an
    output (the common case) never build an S3 client."""

    store: Callable[[], Presigner]
    ttl_seconds: int

    def url_for(self, task: Task) -> str | None:
        output = task.output or {}
        key = output.get("key")
        if not key:
            return None
        return self.store().presigned_url(str(key), self.ttl_seconds, output.get("filename"))
