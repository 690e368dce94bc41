"""The task record: one row per task, the same document on the wire, in the table and in the stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from taskhook.model import attempt_log
from taskhook.model.clock import iso, parse_iso
from taskhook.model.retry import Backoff
from taskhook.model.status import TERMINAL, TaskStatus

# The order in which fields appear in API responses (seed 002's examples; a function task's own
# fields next to the HTTP ones they stand in for).
PUBLIC_FIELDS = (
    "id", "teamId", "kind", "namespace", "name", "status", "progress", "message", "targetUrl", "method",
    "headers", "body", "args", "maxWaitTime", "timeout", "delayUntil", "maxRetries", "retryCount",
    "retryBackoff", "attemptsTotal", "priority", "onCompleteUrl", "callbackUrl", "clientId", "provider", "pollConfig",
    "waitForCallback", "result", "output", "outputs", "error", "attempts", "retryOf",
    "createdAt", "startedAt", "completedAt", "updatedAt",
)
HTTP_KIND = "http"
FUNCTION_KIND = "function"
# What describes an HTTP call: not shown on a function task, where it has no meaning.
HTTP_ONLY_FIELDS = frozenset({"targetUrl", "method", "headers", "body", "provider", "pollConfig", "waitForCallback"})
# The output's S3 key is ours; clients get a presigned download link instead.
PUBLIC_OUTPUT_FIELDS = ("filename", "contentType", "size")


class Task(BaseModel):
    """A task. Field names are camelCase because they are the API's and the table's names."""

    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    id: str
    teamId: str
    kind: str = HTTP_KIND
    status: TaskStatus
    # Function tasks (kind "function"): which registered function, its validated arguments,
    # how far it got (0-100, never decreasing) and its latest message.
    namespace: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    progress: int | None = None
    message: str | None = None
    targetUrl: str | None = None
    method: str = "POST"
    headers: dict[str, str] = {}
    body: str | None = None
    maxWaitTime: float = 30
    timeout: float = 30
    delayUntil: str | None = None
    maxRetries: int = 3
    retryCount: int = 0
    retryBackoff: Backoff = Backoff.EXPONENTIAL
    priority: int = 5
    onCompleteUrl: str | None = None
    provider: str | None = None
    pollConfig: dict[str, Any] | None = None
    # True: after a 2xx answer the task waits (status `waiting`) for its one-time callback URL
    # (header Taskhook-Callback-Url) or POST /v1/tasks/{id}/complete.
    waitForCallback: bool | None = None
    # seed 000's callback_url, and the client token a task was started with (seed 003).
    callbackUrl: str | None = None
    clientId: str | None = None
    # An HTTP task's {statusCode, headers, body, duration}; a function task's return value (any JSON).
    result: Any = None
    # A function task's output file in S3: {key, contentType, size, filename}.
    output: dict[str, Any] | None = None
    # A provider task's output files copied into S3: [{key, contentType, size, filename, source}], or
    # {source, error} for a file that was not copied.
    outputs: list[dict[str, Any]] | None = None
    error: str | None = None
    # The ended attempts, newest last, at most the last 20 (model/attempt_log.py), and how many there
    # were in all.
    attempts: list[dict[str, Any]] | None = None
    attemptsTotal: int | None = None
    # The failed or timed-out task this one retries (POST /v1/tasks/{id}/retry).
    retryOf: str | None = None
    createdAt: str
    startedAt: str | None = None
    completedAt: str | None = None
    updatedAt: str | None = None
    # Delivery state of the task's notifications, by notification id (see notify.py).
    notifications: dict[str, dict[str, Any]] | None = None
    # Bookkeeping, never shown to clients: the executor's current claim and the scheduler's
    # dispatch mark (see execution.py and scheduling.py).
    claimToken: str | None = None
    claimedAt: str | None = None
    dispatchedAt: str | None = None
    # The API sent the task's message itself, before writing the row (intake/new_tasks.py): the
    # stream's outbox, the repair path, leaves it alone.
    sentAtCreate: bool | None = None
    retryAt: str | None = None  # when a task waiting out its backoff may run again
    # Seconds of maxWaitTime given back after runs that crashed holding the task (their claim went
    # stale): a crash of ours never turns a healthy task into `timeout` (see run/executor.py).
    waitCredit: float | None = None
    # A polling task's state (model/polling.py: the URLs from the submit answer, polls made, the
    # interval): bookkeeping, never shown. Its poll token is the claimToken.
    poll: dict[str, Any] | None = None
    # A waiting task's callback: the SHA-256 of its one-time token (the token is only in the URL
    # sent to the target). Never shown.
    callbackHash: str | None = None
    # 1 when stored, +1 with every transition and progress write (not with the delivery log's
    # bookkeeping): a stream consumer compares versions to tell a change from a repeated record.
    version: int = 1
    # The version of the write that last changed the status (1: the insert). A stream consumer
    # reads "did this write change the status?" from the new image alone (statusVersion ==
    # version): an old image may be stale (re-delivered or concurrent records), the new one not.
    # None: a row written before status versions (the images are compared).
    statusVersion: int | None = 1
    # When a terminal task's row expires (epoch seconds; DynamoDB's TTL attribute): completedAt +
    # its team's retention (model/retention.py). None while the task is not terminal. Never shown.
    expiresAt: int | None = None

    def public(self) -> dict[str, Any]:
        """The task as clients see it: no empty fields, numbers as JSON numbers."""
        data = self.model_dump(mode="json")
        if self.output is not None:
            data["output"] = {k: self.output[k] for k in PUBLIC_OUTPUT_FIELDS if self.output.get(k) is not None}
        if self.outputs is not None:
            data["outputs"] = [{k: o[k] for k in (*PUBLIC_OUTPUT_FIELDS, "source", "error") if o.get(k) is not None}
                               for o in self.outputs]
        history = attempt_log.view(self)
        if history is not None:
            data["attempts"], data["attemptsTotal"] = history
        hidden = HTTP_ONLY_FIELDS if self.kind == FUNCTION_KIND else frozenset()
        out: dict[str, Any] = {}
        for name in PUBLIC_FIELDS:
            value = data.get(name)
            if value is None or name in hidden:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            out[name] = value
        if self.notifications:
            out["notifications"] = notification_view(self.notifications)
        return out

    @property
    def qualified_name(self) -> str | None:
        """`namespace.name` of a function task (what seed 000 calls task_name), else None."""
        return f"{self.namespace}.{self.name}" if self.namespace and self.name else None


def deadline_of(task: Task) -> str | None:
    """When a started, unfinished task times out (startedAt + maxWaitTime + the crash credit),
    else None."""
    if task.startedAt is None or task.status in TERMINAL or task.status is TaskStatus.DELAYED:
        return None
    return iso(parse_iso(task.startedAt) + timedelta(seconds=task.maxWaitTime + (task.waitCredit or 0)))


def notification_view(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """`notifications: [{id, url, kind, status, attempts, taskStatus, sequence}]`, oldest first (the id:
    POST /v1/tasks/{id}/notifications/{notification_id}/resend)."""
    view = []
    for notification_id, entry in entries.items():
        item: dict[str, Any] = {"id": notification_id}
        item.update({k: entry[k] for k in ("url", "kind", "status", "taskStatus", "sequence") if k in entry})
        item["attempts"] = int(entry.get("attempts", 0))
        if entry.get("lastError") and entry.get("status") != "delivered":
            item["lastError"] = entry["lastError"]
        view.append(item)
    return sorted(view, key=lambda i: (int(i.get("sequence", "0") or 0), i.get("kind", "")))
