"""Records each notification's delivery state on its task row (`notifications.<id>`), through the
tasks table's PynamoDB model (the one way that table is written).

A bookkeeping write: it changes neither status, progress nor the row's version, so the stream
consumers ignore the record it causes."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from taskhook.adapters.dynamo.errors import CONDITION_FAILED, code_of, domain_error
from taskhook.model.errors import Conflict
from taskhook.notify.rules import Notification

NOT_FAILED = "Only a failed notification can be resent"


class DynamoNotificationLog:
    def __init__(self, model: type[Model]) -> None:
        self._model: Any = model

    def record(self, notification: Notification, url: str, status: str, attempts: int, error: str | None) -> None:
        model = self._model
        entry: dict[str, Any] = {
            "kind": notification.kind, "url": url, "status": status, "attempts": attempts,
            "sequence": notification.sequence, "taskStatus": notification.status,
            **({"lastError": error} if error else {}),
        }
        slot = model.notifications[notification.id].set(entry)
        try:
            try:
                self._update(notification.task_id, slot)
            except UpdateError as exc:
                if code_of(exc) != "ValidationException":
                    raise
                # No `notifications` map yet: create it, then set this entry.
                self._update(notification.task_id, model.notifications.set(model.notifications | {}))
                self._update(notification.task_id, slot)
        except UpdateError as exc:
            if code_of(exc) == CONDITION_FAILED:
                return  # the task is gone; nothing to record on
            raise domain_error(exc, "Conflict") from exc

    def _update(self, task_id: str, action: Any) -> None:
        self._model(task_id).update(actions=[action], condition=self._model.id.exists())

    def requeue_failed(self, task_id: str, notification_id: str) -> None:
        """ports.DeliveryLog.requeue_failed: `notifications.<id>.status` failed -> queued."""
        model = self._model
        status = model.notifications[notification_id]["status"]
        try:
            model(task_id).update(actions=[status.set("queued")], condition=model.id.exists() & (status == "failed"))
        except UpdateError as exc:
            if code_of(exc) == CONDITION_FAILED:
                raise Conflict(NOT_FAILED) from exc
            raise domain_error(exc, "Conflict") from exc
