"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file
from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""

from __future__ import annotations

USD_PER_TASK = 8.92e-06
USD_PER_TASK_PROVISIONED = 5.25e-06
MEASURED = (
    "bench/results.json of 2026-12-03T03:30:59Z (full run, commit a6b6cb68a5), scenario 'e2e'"
)
PRICES = (
    'AWS public pricing pages as of 2025-01, typed by hand (us-east-1, on demand; provisioned at '
    '70 % utilisation)'
)
