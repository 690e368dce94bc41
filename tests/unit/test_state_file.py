"""infra/state.py: the running stack's state file holds the dev key, so only its owner reads it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from infra import state


def test_the_state_file_is_its_owners_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.ENV_STATE_DIR, str(tmp_path))
    (tmp_path / "stack.tmp").write_text("left by an older run")
    (tmp_path / "stack.tmp").chmod(0o644)
    state.write_state({"devKey": "th_secret", "env": {}})
    assert stat.S_IMODE(state.state_file().stat().st_mode) == 0o600
    assert state.read_state() == {"devKey": "th_secret", "env": {}}
