"""Storing a new task: its lane message first, then its row, so that a task due now is on its lane
one hop after the create call (no wait for the table's stream).

- **Message, then row.** A crash between the two leaves a message whose row never comes; the
  executor waits for a missing row a while after the message was sent (run/executor.py,
  NEW_ROW_PATIENCE, longer than any API invocation) and then drops the message. The client got no
  201, so nothing the client knows of is lost. The other order could lose a task: a row marked
  sent whose message was never sent.
- **The stream stays the repair path.** A row carries `sentAtCreate` only when its message went
  out; if the send fails (SQS throttled or down), the row is written without it and the stream's
  outbox (dispatch/outbox.py) sends the message as it always did, one stream poll later.
- **Never run twice.** The row is claimed with a conditional write, so a second message for one
  task (the outbox's, a restart's recovery) finds it claimed or finished.
- **The message carries the row.** It is the row as written once the send has succeeded
  (`sentAtCreate`), so the executor's first delivery claims it without reading it first; that
  claim needs the row still at its first version (run/executor.py, CARRIED).

A task due later than SQS's longest delay gets no message here: the minute sweep sends it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from taskhook.model.dispatch import dispatch_for_new_task
from taskhook.model.task import Task
from taskhook.ports import TaskQueue, TaskRepository

log = logging.getLogger(__name__)


def store_new(repository: TaskRepository, queue: TaskQueue | None, task: Task, now: datetime) -> Task:
    """Send the task's message (if it needs one now), then write its row; returns the row as written.
    `queue` None: the row only (the stream's outbox sends the message)."""
    dispatch = dispatch_for_new_task(task, now) if queue is not None else None
    if dispatch is not None and queue is not None:
        sent = task.model_copy(update={"sentAtCreate": True})  # the row once its message is out
        try:
            queue.send(replace(dispatch, row=sent))
        except Exception as exc:  # noqa: BLE001 - the stream's outbox sends it instead
            log.warning("task %s: its lane message was not sent at create (%s); the stream sends it",
                        task.id, type(exc).__name__)
        else:
            task = sent
    repository.put_new(task)
    return task
