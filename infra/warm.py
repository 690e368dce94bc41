"""Importing the whole service up front, for the local stack's long-lived processes.

On Lambda a function imports its handler's code on its first event (app.py), one event at a time
per process. The local processes run many handlers and requests at once on threads (infra/runner.py,
infra/api_server.py, infra/ws_server.py), and two threads making the first import of the same
package at once can each find it half initialised (the runner met `ImportError: cannot import name
'SQSEvent' from partially initialized module` when a lane batch and a stream batch arrived together
after a restart). So each of them imports every module of `functions` and `taskhook` before it
serves anything."""

from __future__ import annotations

import importlib
import pkgutil

PACKAGES = ("functions", "taskhook")


def import_everything() -> int:
    """Import every module of PACKAGES (the client's package and the task modules are not among
    them); returns how many modules were imported."""
    count = 0
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            importlib.import_module(module.name)
            count += 1
    return count
