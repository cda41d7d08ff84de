"""Benchmarks (`make bench-…`): they print figures and write them into docs/; tests never time."""
