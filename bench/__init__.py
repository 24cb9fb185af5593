"""Benchmarks: each writes its section of BENCHMARKS.md, figures as ratios measured in one run."""
