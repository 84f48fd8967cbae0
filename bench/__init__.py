"""Benchmarks: each prints a table of figures; run them as modules from the repository root."""
