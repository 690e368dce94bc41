"""Task outputs: where their files live in S3 and the presigned links clients get. A function task
has one output file (`Task.output`); a provider task the files its result named, copied
(`Task.outputs`, run/provider_outputs.py)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def numbered_output_key(team_id: str, task_id: str, number: int, filename: str) -> str:
    """A provider task's output file: `outputs/<team>/<task>/<n>-<safe filename>` (n from 0, its
    place in `Task.outputs`: two files of the same name stay apart, and a repeated copy overwrites)."""
    return output_key(team_id, task_id, f"{number}-{filename}")


def primary_output(task: Task) -> dict[str, Any]:
    """The one output a single `download_url` names (seeds 000 and 003, webhooks): a function task's
    output, else a provider task's first copied file; {} when there is none."""
    return task.output or next((o for o in task.outputs or [] if o.get("key")), {})


class DownloadFailed(Exception):
    """An output file that was not downloaded; the message is the reason, fit to show the client."""


@dataclass(frozen=True)
class DownloadLinks:
    """Presigned GET URLs for task outputs. `store` is a factory, so that tasks without an
    output (the common case) never build an S3 client."""

    store: Callable[[], Presigner]
    ttl_seconds: int

    def url_for(self, task: Task) -> str | None:
        """The output's link: a function task's output, else a provider task's first copied file
        (the one `download_url` of seeds 000 and 003)."""
        return self._link(primary_output(task))

    def urls_for_outputs(self, task: Task) -> list[str | None]:
        """One link per entry of `task.outputs`, in order (None for a file that was not copied)."""
        return [self._link(output) for output in task.outputs or []]

    def _link(self, output: dict[str, Any]) -> str | None:
        key = output.get("key")
        if not key:
            return None
        return self.store().presigned_url(str(key), self.ttl_seconds, output.get("filename"))
