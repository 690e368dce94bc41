"""The peers: the same callback task in Celery 5 with a Redis broker.

The task POSTs to the target with Taskhook's own retry policy (taskhook.retry.RetryPolicy:
exponential from 1 s, +/-20 % jitter, at least Retry-After), at most 3 retries, retrying on
5xx, 429 and network errors; 2xx-4xx are final, as in Taskhook. `acks_late` gives it Taskhook's
at-least-once delivery (a message is acknowledged only after its attempt).

Two configurations, one code: the raw broker (`BENCH_CELERY_BACKEND` unset: no result backend,
Celery keeps no task state) and the like-for-like peer (`BENCH_CELERY_BACKEND=redis://…`: a Redis
result backend with `task_track_started`, so Celery stores the task's state at every transition,
STARTED, RETRY, SUCCESS, as Taskhook writes every transition to DynamoDB).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import requests
from celery import Celery

from taskhook.adapters.http import parse_retry_after
from taskhook.model.retry import RetryPolicy

MAX_RETRIES = 3
POLICY = RetryPolicy(backoff="exponential")
QUEUE = "taskhook-peer"
TASK = "peer.deliver"


def make_app(broker: str, backend: str | None = None) -> Celery:
    """The peer's Celery app: `backend` None is the raw broker; a URL stores every state change there."""
    app = Celery("taskhook_peer", broker=broker, backend=backend or None)
    app.conf.update(
        task_ignore_result=not backend,
        task_track_started=bool(backend),
        task_acks_late=True,
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=QUEUE,
    )
    return app


app = make_app(os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
               os.environ.get("BENCH_CELERY_BACKEND") or None)
_local = threading.local()


def _session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session  # type: ignore[no-any-return]


@app.task(bind=True, max_retries=MAX_RETRIES, name=TASK)
def deliver(self: Any, url: str, method: str, body: str | None, timeout: float) -> int | None:
    attempt = self.request.retries + 1
    try:
        response = _session().request(method, url, data=body, timeout=(min(timeout, 10), timeout),
                                      allow_redirects=False, headers={"User-Agent": "Taskhook-peer/1.0"})
    except requests.RequestException as exc:
        if self.request.retries >= MAX_RETRIES:
            return None  # failed: every retry used
        raise self.retry(exc=exc, countdown=POLICY.delay(attempt)) from exc
    if response.status_code >= 500 or response.status_code == 429:
        if self.request.retries >= MAX_RETRIES:
            return response.status_code
        raise self.retry(countdown=POLICY.delay(attempt, parse_retry_after(response.headers.get("Retry-After"))))
    return response.status_code
