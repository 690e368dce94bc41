"""The running local stack's state file: where the emulator is and what the resources are called,
so that the key command, the tests and the benchmarks can find a stack that `make run` started;
and its data directory (`data/` under the same state directory, so that stacks started with
their own TASKHOOK_STATE_DIR never share one), where the embedded emulator keeps its snapshot."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENV_STATE_DIR = "TASKHOOK_STATE_DIR"


def state_dir() -> Path:
    return Path(os.environ.get(ENV_STATE_DIR) or ROOT / ".taskhook")


def data_dir() -> Path:
    return state_dir() / "data"


def forget_data() -> None:
    """`make run FRESH=1`: start empty."""
    shutil.rmtree(data_dir(), ignore_errors=True)


def state_file() -> Path:
    return state_dir() / "stack.json"


def write_state(state: dict[str, Any]) -> None:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # It holds the dev key: its owner's only, as the data directory is.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(json.dumps(state, indent=2))
    os.chmod(tmp, 0o600)  # a .tmp left by an older version keeps its mode through O_TRUNC
    tmp.replace(path)


def read_state() -> dict[str, Any] | None:
    try:
        return json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None


def clear_state() -> None:
    with contextlib.suppress(OSError):
        state_file().unlink()


def apply_stack_env() -> dict[str, Any] | None:
    """Point this process at the running local stack (its emulator and resource names)."""
    state = read_state()
    if state:
        for name, value in state["env"].items():
            os.environ.setdefault(name, value)
    return state
