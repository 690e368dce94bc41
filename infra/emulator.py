"""The embedded emulator: moto's server, run with two changes that only make it faster.

- moto's dispatcher finds the backend for every request under one global lock, by listing its
  own package directory (`os.listdir` and `isdir` on some 200 entries) and matching a few hundred
  URL patterns. The answer depends only on the request's host, so it is remembered per host:
  profiling the benchmark showed most of the emulator's threads waiting on that lock.
- moto's SQS reads the clock through `datetime` for each message it looks at (`Message.visible`,
  `Message.delayed`), scans every message of the queue to count them whenever it reads the queue's
  attributes, and reads all of them three times for each message it returns (the retention
  check). With a backlog of thousands of messages (the 10,000-task soak) that made every send and
  receive cost milliseconds per message already queued, and the emulator spent its whole core
  there. The same clock is read with `time.time()`, and the retention check reads the one
  attribute it needs.
- werkzeug's access log line per request is dropped (the emulator's log keeps warnings and errors).

Everything else is moto's own `moto.server.main`. An external emulator (`AWS_ENDPOINT_URL`,
LocalStack) is used as it is.

    python -m infra.emulator -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import logging
import time
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Message, SQSBackend

from .children import exit_with_parent

_lookup = DomainDispatcherApplication.get_backend_for_host


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    if host is None:
        return None
    known: dict[str, Any] = self.__dict__.setdefault("_backend_by_host", {})
    if host not in known:
        known[host] = _lookup(self, host)
    return known[host]


def _now_ms() -> float:
    return time.time() * 1000.0  # what moto's unix_time_millis() computes, through datetime


def _visible(self: Message) -> bool:
    return bool(_now_ms() > self.visible_at)


def _delayed(self: Message) -> bool:
    return bool(_now_ms() < self.delayed_until)


def _within_retention(self: SQSBackend, queue_name: str, message: Message) -> bool:
    retention_seconds = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_seconds + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]


def apply() -> None:
    """Install the changes above into moto (idempotent)."""
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
    Message.visible = property(_visible)  # type: ignore[method-assign,assignment]
    Message.delayed = property(_delayed)  # type: ignore[method-assign,assignment]
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def main() -> None:
    exit_with_parent()
    apply()
    server.main()


if __name__ == "__main__":
    main()
