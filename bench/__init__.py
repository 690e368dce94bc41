"""Benchmarks, the Celery peer and the no-loss soak (issue 4). `make bench`, `make bench-quick`,
`make soak`; the report is bench/report.md, generated from bench/results.json."""
