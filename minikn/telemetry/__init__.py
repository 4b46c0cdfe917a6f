"""Telemetry: the Prometheus registry and the data path's request metrics."""
