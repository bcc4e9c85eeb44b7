"""Benchmarks of geomrelax (run as python -m benchmarks.<name>)."""
