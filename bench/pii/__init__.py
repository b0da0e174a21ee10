"""PII detection benchmark: `python -m bench.pii` (see docs/benchmarks.md)."""
