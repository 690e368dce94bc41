"""Delivering one notification: sign it, POST it, record the attempt, decide on a retry.

Network errors, timeouts, 5xx and 429 are retried with exponential backoff (2 s, 4 s, 8 s, …)
through the notification's own queue, independently of the task; after MAX_ATTEMPTS the
delivery is recorded as failed. Any other answer ends the delivery (2xx: delivered)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from taskhook.model.attempt import Attempt
from taskhook.model.clock import utcnow
from taskhook.model.outcome import Outcome
from taskhook.model.retry import Backoff, RetryPolicy
from taskhook.notify.rules import CALLBACK, Notification, with_query
from taskhook.notify.signing import signature_headers
from taskhook.ports import DeliveryLog

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10.0
BACKOFF = RetryPolicy(backoff=Backoff.EXPONENTIAL, base_seconds=2.0, max_delay_seconds=300.0)

# post(team, url, headers, body, timeout): through the team's own connections (adapters/http.py TeamSessions)
Poster = Callable[[str, str, dict[str, str], str, float], Attempt]


@dataclass
class NotificationDeliverer:
    post: Poster
    secrets_for: Callable[[str], list[str]]
    log: DeliveryLog
    presign: Callable[[str], str] | None = None
    clock: Callable[[], datetime] = utcnow
    max_attempts: int = MAX_ATTEMPTS

    def deliver(self, notification: Notification, attempt: int) -> Outcome:
        body = dict(notification.body)
        url = notification.url
        if notification.kind == CALLBACK:
            params = {"task_id": notification.task_id, "status": notification.status}
            if notification.output_key and self.presign is not None:
                params["download_url"] = body["download_url"] = self.presign(notification.output_key)
            url = with_query(notification.url, params)
        text = json.dumps(body, separators=(",", ":"))
        headers = {"Content-Type": "application/json",
                   **signature_headers(self.secrets_for(notification.team_id), notification.id, self.clock(), text)}
        answer = self.post(notification.team_id, url, headers, text, TIMEOUT_SECONDS)
        if answer.status_code is not None and 200 <= answer.status_code < 300:
            self.log.record(notification, url, "delivered", attempt, None)
            return Outcome.done("delivered")
        error = answer.error or f"HTTP {answer.status_code}"
        if not answer.retryable or attempt >= self.max_attempts:
            self.log.record(notification, url, "failed", attempt, error)
            return Outcome.done(f"failed: {error}")
        self.log.record(notification, url, "retrying", attempt, error)
        return Outcome.again(BACKOFF.delay(attempt, answer.retry_after), f"retry after {error}")
