"""The embedded emulator: moto's server, run with two changes that only make it faster.

- moto's dispatcher finds the backend for every request under one global lock, by listing its
  own package directory (`os.listdir` and `isdir` on some 200 entries) and matching a few hundred
  URL patterns. The answer depends only on the request's host, so it is remembered per host:
  profiling the benchmark showed most of the emulator's threads waiting on that lock.
- werkzeug's access log line per request is dropped (the emulator's log keeps warnings and errors).

Everything else is moto's own `moto.server.main`. An external emulator (`AWS_ENDPOINT_URL`,
LocalStack) is used as it is.

    python -m infra.emulator -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import logging
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from .children import exit_with_parent

_lookup = DomainDispatcherApplication.get_backend_for_host


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    if host is None:
        return None
    known: dict[str, Any] = self.__dict__.setdefault("_backend_by_host", {})
    if host not in known:
        known[host] = _lookup(self, host)
    return known[host]


def main() -> None:
    exit_with_parent()
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server.main()


if __name__ == "__main__":
    main()
