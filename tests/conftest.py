"""The order test files run in: the longest first.

`make test` runs pytest-xdist with `--dist loadfile --no-loadscope-reorder`: each worker takes whole
files in collection order. Left to itself, xdist orders files by their number of tests, which puts
the long single-test end-to-end files (a 500-task burst, three stack restarts, the soak) last, where
one of them can keep a worker busy for a minute or two while the other is idle. Longest first, and
the many short unit files at the end, let the two workers finish together.

The list is measured (`pytest --durations=0`, per file); a file not listed keeps its place after
them (end-to-end, then functional, then unit: the collection's own order).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
LONGEST_FIRST = [
    "e2e/test_fairness.py",
    "e2e/test_restart.py",
    "e2e/test_providers.py",
    "e2e/test_readme.py",
    "e2e/test_soak.py",
    "e2e/test_execution.py",
    "e2e/test_vault.py",
    "e2e/test_client.py",
    "e2e/test_function_tasks.py",
    "e2e/test_fuzz_openapi.py",
]
RANK = {str(HERE / name): rank for rank, name in enumerate(LONGEST_FIRST)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: RANK.get(str(item.path), len(RANK)))  # stable: the rest keep their order
