"""What to tell the customer when a task changes, derived from the table's stream.

- seed 000: on every status change (the first status included) of a task with a `callbackUrl`,
  a POST to that URL with `task_id`, `status` and, when the task has an output, `download_url`
  added as URL-encoded query parameters (the URL's own parameters are kept, in order); the same
  fields are the JSON body.
- seed 002: on a terminal status, a POST to `onCompleteUrl` with `{"task": …}` as JSON.

Each notification carries the stream's sequence number (`sequence`), which grows with every
change of a task: receivers can order or de-duplicate by it (and by `webhook-id`). Deliveries of
one task go through one FIFO message group, so they also arrive in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from taskhook.model.outputs import primary_output
from taskhook.model.status import TERMINAL
from taskhook.model.task import Task

CALLBACK = "callback"
ON_COMPLETE = "onComplete"


@dataclass(frozen=True)
class Notification:
    id: str
    task_id: str
    team_id: str
    kind: str
    url: str
    status: str
    sequence: str
    body: dict[str, Any] = field(default_factory=dict)
    output_key: str | None = None
    # A resend's: the queue's deduplication key is the id plus this, so the FIFO queue does not drop
    # it as a repeat of the first send (the id, the receiver's `webhook-id`, stays the same).
    resend: str = ""

    @property
    def dedup_key(self) -> str:
        return (self.id + self.resend)[-128:]

    def to_message(self) -> str:
        return json.dumps({
            "id": self.id, "taskId": self.task_id, "teamId": self.team_id, "kind": self.kind, "url": self.url,
            "status": self.status, "sequence": self.sequence, "body": self.body, "outputKey": self.output_key,
        })

    @staticmethod
    def from_message(text: str) -> Notification:
        data = json.loads(text)
        return Notification(
            id=data["id"], task_id=data["taskId"], team_id=data["teamId"], kind=data["kind"], url=data["url"],
            status=data["status"], sequence=data["sequence"], body=data.get("body") or {},
            output_key=data.get("outputKey"),
        )


def status_changed(old: Task | None, new: Task) -> bool:
    """Whether the write this record shows changed the task's status: read from the new image
    (its statusVersion is its version) when the row carries one, since an old image can be stale;
    rows written before status versions compare the two images."""
    if old is None:
        return True
    if new.statusVersion is not None:
        # A write that bumped no version (bookkeeping: the delivery log, a dispatch mark; LocalStack
        # also streams no-op updates) changed no status, though its image still says
        # statusVersion == version after the write that did.
        return new.statusVersion == new.version and old.version != new.version
    return old.status != new.status


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` appended as URL-encoded query parameters, its own ones kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _output_key(task: Task) -> str | None:
    key = primary_output(task).get("key")
    return str(key) if key else None


def notifications_for(old: Task | None, new: Task, sequence: str) -> list[Notification]:
    """The notifications one stream record calls for (none unless the status changed)."""
    if not status_changed(old, new):
        return []
    status = new.status.value
    out: list[Notification] = []
    callback = getattr(new, "callbackUrl", None)
    if callback:
        out.append(_callback(new, callback, status, sequence))
    if new.onCompleteUrl and new.status in TERMINAL:
        out.append(_on_complete(new, new.onCompleteUrl, status, sequence))
    return out


def _callback(task: Task, url: str, status: str, sequence: str) -> Notification:
    return Notification(
        id=f"ntf_{task.id}_{sequence}_cb", task_id=task.id, team_id=task.teamId, kind=CALLBACK, url=url,
        status=status, sequence=sequence, body={"task_id": task.id, "status": status, "sequence": sequence},
        output_key=_output_key(task),
    )


def _on_complete(task: Task, url: str, status: str, sequence: str) -> Notification:
    return Notification(
        id=f"ntf_{task.id}_{sequence}_oc", task_id=task.id, team_id=task.teamId, kind=ON_COMPLETE, url=url,
        status=status, sequence=sequence, body={"task": task.public(), "sequence": sequence},
    )


def rebuilt(task: Task, notification_id: str) -> Notification | None:
    """The notification the task's delivery log entry `notification_id` recorded, made again from the
    task (the URL the client gave, not the one with the query parameters added); None if there is
    none. An onComplete body is the task as it is now: a terminal task does not change."""
    entry = (task.notifications or {}).get(notification_id)
    if entry is None:
        return None
    status, sequence = str(entry.get("taskStatus", "")), str(entry.get("sequence", ""))
    if entry.get("kind") == CALLBACK and task.callbackUrl:
        made = _callback(task, task.callbackUrl, status, sequence)
    elif entry.get("kind") == ON_COMPLETE and task.onCompleteUrl:
        made = _on_complete(task, task.onCompleteUrl, status, sequence)
    else:
        return None
    return made if made.id == notification_id else None
