"""How the `taskhook` command shows things: JSON for scripts (`--json`), else rich tables, status
lines and progress bars. Colours only on a terminal (rich's own detection; NO_COLOR is honoured);
tables and results go to standard output, progress bars and status lines to standard error."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                 "processing": "cyan", "polling": "cyan", "waiting": "magenta", "pending": "blue", "delayed": "blue"}
TASK_FIELDS = ("id", "status", "kind", "namespace", "name", "targetUrl", "method", "progress", "message", "priority",
               "retryCount", "maxRetries", "delayUntil", "createdAt", "startedAt", "completedAt", "error", "result",
               "output", "retryOf")
WHOLE = frozenset({"id", "status", "progress", "scope", "preview", "task_name"})  # never cut nor wrapped


PIPED_WIDTH = 100_000  # columns when the output is no terminal: nothing is wrapped


def console(stderr: bool = False) -> Console:
    """rich's console for one stream. In a pipe or a file, rich lays out for 80 columns, which cut
    ids, URLs and secrets over several lines (a copy-paste hazard): there each value keeps its
    line. A terminal's own width, or COLUMNS, still rules."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, highlight=False, width=PIPED_WIDTH if piped else None)


class Out:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.stdout = console()
        self.stderr = console(stderr=True)

    def _show(self, table: Table) -> None:
        """A table; in a pipe its lines without the padding rich gives every line up to the table's
        widest (a long result would pad every row to its length)."""
        if self.stdout.width < PIPED_WIDTH:
            self.stdout.print(table)
            return
        with self.stdout.capture() as captured:
            self.stdout.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        sys.stdout.flush()

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def json_line(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def task(self, task: dict[str, Any]) -> None:
        if self.as_json:
            self.json({"task": task})
            return
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for name in TASK_FIELDS:
            if task.get(name) is not None:
                table.add_row(name, status_text(task[name]) if name == "status" else Text(_plain(task[name])))
        self._show(table)

    def tasks(self, tasks: Sequence[dict[str, Any]]) -> None:
        if self.as_json:
            self.json({"tasks": list(tasks)})
            return
        rows = [{"id": task.get("id"), "status": task.get("status"),
                 "what": f"{task.get('namespace')}.{task.get('name')}" if task.get("kind") == "function"
                 else f"{task.get('method', '')} {task.get('targetUrl', '')}",
                 "progress": None if task.get("progress") is None else f"{task['progress']}%",
                 "created": task.get("createdAt")} for task in tasks]
        self._table(("id", "status", "what", "progress", "created"), rows)

    def rows(self, key: str, rows: Sequence[dict[str, Any]], columns: Iterable[str]) -> None:
        if self.as_json:
            self.json({key: list(rows)})
            return
        self._table(list(columns), rows)

    def _table(self, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Ids, statuses and times are never cut nor wrapped (an id is what the next command
        needs); the other columns fold."""
        table = Table(box=box.SIMPLE_HEAD)
        for name in columns:
            if name in WHOLE:
                width = max([len(name), *(len(_plain(r.get(name))) for r in rows)])
                table.add_column(name, no_wrap=True, min_width=width)
            else:
                table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(status_text(row.get(n)) if n == "status" else Text(_plain(row.get(n))) for n in columns))
        self._show(table)

    def value(self, value: Any) -> None:
        """An answer as it is: JSON with --json, else a readable one (a string result as itself)."""
        if self.as_json:
            self.json(value)
        elif isinstance(value, str):
            self.stdout.print(Text(value))
        else:
            self.stdout.print_json(json.dumps(value, ensure_ascii=False))

    def note(self, message: str) -> None:
        """A line for the person at the terminal (standard error), never mixed into --json output."""
        self.stderr.print(Text(message))

    def event(self, event: dict[str, Any]) -> None:
        """One live event: a JSON line with --json, else a status line."""
        if self.as_json:
            self.json_line(event)
            return
        line = Text.assemble((str(event.get("timestamp", "")), "dim"), "  ", str(event.get("task_id")), "  ")
        if event.get("name"):
            line.append(f"{event.get('namespace')}.{event['name']}  ")
        line.append_text(status_text(event.get("status")))
        if event.get("progress") is not None:
            line.append(f"  {event['progress']}%")
        if event.get("message"):
            line.append(f"  {event['message']}")
        if event.get("error"):
            line.append(f"  {event['error']}", style="red")
        self.stdout.print(line)

    @contextmanager
    def task_bar(self, label: str) -> Iterator[TaskBar]:
        """A progress bar (0-100) and a status for one task, on standard error."""
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                            TimeElapsedColumn(), console=self.stderr)
        with progress:
            yield TaskBar(progress, progress.add_task(escape(label), total=100), label)

    @contextmanager
    def download_bar(self, filename: str) -> Iterator[DownloadBar]:
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
                            TransferSpeedColumn(), console=self.stderr)
        with progress:
            yield DownloadBar(progress, progress.add_task(escape(filename), total=None))


class TaskBar:
    def __init__(self, progress: Progress, task_id: TaskID, label: str) -> None:
        self.progress, self.task_id, self.label = progress, task_id, label

    def update(self, event: dict[str, Any]) -> None:
        status = str(event.get("status"))
        done = event.get("progress")
        if status == "completed":
            done = 100  # an HTTP task has no progress of its own: done is all of it
        style = STATUS_STYLES.get(status) or "default"
        description = f"{escape(self.label)} [{style}]{escape(status)}[/]"
        if event.get("message"):
            description += f" [dim]{escape(str(event['message']))}[/]"
        if isinstance(done, int | float):
            self.progress.update(self.task_id, completed=done, description=description)
        else:
            self.progress.update(self.task_id, description=description)


class DownloadBar:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self.progress, self.task_id = progress, task_id

    def __call__(self, done: int, total: int | None) -> None:
        self.progress.update(self.task_id, completed=done, total=total)


def status_text(status: Any) -> Text:
    return Text(str(status), style=STATUS_STYLES.get(str(status), ""))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
