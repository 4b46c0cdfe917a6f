"""Fakes for tests and benchmarks (backend, local replicas, a wired data path); never at runtime."""
