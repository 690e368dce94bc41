"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file
from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""

from __future__ import annotations

USD_PER_TASK = 8.67e-06
USD_PER_TASK_PROVISIONED = 5.0999999999999995e-06
MEASURED = (
    "bench/results.json of 2026-12-02T01:57:05Z (quick run, commit b3d0b228d5), scenario 'e2e', "
    'repriced 2026-12-02T04:36:13Z at commit b90782be71'
)
PRICES = (
    'AWS public pricing pages as of 2025-01, typed by hand (us-east-1, on demand; provisioned at '
    '70 % utilisation)'
)
