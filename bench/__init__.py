"""Benchmarks, the Celery peer and the no-loss soak (issue 4). `make bench`, `make bench-quick`,
`make soak`; the report is bench/report.md, generated from bench/results.json."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _path in (str(_ROOT), str(_ROOT / "layers" / "taskhook" / "python")):
    if _path not in sys.path:
        sys.path.append(_path)
