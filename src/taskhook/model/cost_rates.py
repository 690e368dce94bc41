"""What one task costs on AWS, as `make bench` measured it (bench/cost_rates.py writes this file
from bench/results.json: do not edit). GET /v1/usage multiplies it by the tasks created."""

from __future__ import annotations

USD_PER_TASK = 2.3199999999999998e-05
USD_PER_TASK_PROVISIONED = 1.2425e-05
WRITE_UNITS_PER_TASK = 29.0
READ_UNITS_PER_TASK = 1.7725
MEASURED = "bench/results.json of 2026-12-02T01:12:54Z (quick run, commit 664ceac03b), scenario 'e2e'"
PRICES = 'AWS public pricing pages as of 2025-01, typed by hand (us-east-1, on demand; provisioned at 70 % utilisation)'
