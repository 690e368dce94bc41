"""A task's output file: a function task's `output` (its `downloadUrl`, presigned), or one of a
provider task's copied `outputs`; and where a download of it is written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import NoOutput

CHUNK = 64 * 1024


@dataclass(frozen=True)
class OutputLink:
    url: str
    filename: str
    size: int | None


def output_link(task: dict[str, Any], index: int | None = None) -> OutputLink:
    """The function task's output; with `index`, the provider task's `outputs[index]`."""
    if index is None and isinstance(task.get("output"), dict):
        entry: Any = task["output"]
    else:
        entries = task.get("outputs") or []
        entry = entries[index or 0] if isinstance(entries, list) and len(entries) > (index or 0) else None
    if not isinstance(entry, dict) or not entry.get("downloadUrl"):
        raise NoOutput(f"task {task.get('id', '?')} ({task.get('status', '?')}) has no output to download")
    size = entry.get("size")
    name = os.path.basename(str(entry.get("filename") or "")) or f"{task.get('id', 'output')}.bin"
    return OutputLink(str(entry["downloadUrl"]), name, size if isinstance(size, int) else None)


def destination(path: str | os.PathLike[str], link: OutputLink) -> Path:
    """`path` itself, or the output's file name inside it when it is a directory."""
    target = Path(path)
    return target / link.filename if target.is_dir() else target


def partial(target: Path) -> Path:
    """Where the bytes go until the download is whole (then renamed over `target`)."""
    return target.with_name(f".{target.name}.part")
