"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file
from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""

from __future__ import annotations

USD_PER_TASK = 8.65e-06
USD_PER_TASK_PROVISIONED = 5.1e-06
MEASURED = (
    "bench/results.json of 2026-12-03T21:44:58Z (full run, commit 2fa2ff0773), scenario 'e2e'"
)
PRICES = (
    'AWS public pricing pages as of 2025-01, typed by hand (us-east-1, on demand; provisioned at '
    '70 % utilisation)'
)
