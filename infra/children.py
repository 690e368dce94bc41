"""Helpers for the local stack's child processes."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(interval: float = 1.0) -> None:
    """End this process when the process that started it is gone, so that no child of the
    local stack outlives it (even when the supervisor is killed with SIGKILL)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
