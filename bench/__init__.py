"""Benchmarks: `make bench` prints each figure beside its reference, in one run."""
