"""Test helpers shared by the functional and end-to-end suites (and the benchmarks)."""
