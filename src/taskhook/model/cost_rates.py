"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file
from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""

from __future__ import annotations

USD_PER_TASK = 8.56e-06
USD_PER_TASK_PROVISIONED = 5.01e-06
MEASURED = (
    "bench/results.json of 2026-12-03T19:15:24Z (full run, commit 2a5f920ded), scenario 'e2e'"
)
PRICES = (
    'AWS public pricing pages as of 2025-01, typed by hand (us-east-1, on demand; provisioned at '
    '70 % utilisation)'
)
