"""Benchmarks: run each as `python -m bench.<name>`; each prints its figures."""
