"""KServe's model-server latency histograms, rendered in the Prometheus text format.

KServe's Python server exports ``request_preprocess_seconds``, ``request_predict_seconds``,
``request_postprocess_seconds`` and ``request_explain_seconds`` (label ``model_name``). These are
plain counters updated inline (a lock-free float add per step) so that measuring costs the hot
path about a microsecond; ``/metrics`` renders them on demand.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

__all__ = ["STEPS", "Histogram", "StepMetrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""prometheus_client's default buckets, which KServe's histograms use."""
STEPS = ("preprocess", "predict", "postprocess", "explain")


class Histogram:
    """One label set of one histogram."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def lines(self, name: str, labels: str) -> Iterator[str]:
        running = 0
        for bound, count in zip(BUCKETS, self.counts, strict=False):
            running += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {running}'
        running += self.counts[-1]
        yield f'{name}_bucket{{{labels},le="+Inf"}} {running}'
        yield f"{name}_count{{{labels}}} {running}"
        yield f"{name}_sum{{{labels}}} {self.total}"


class StepMetrics:
    """Per model, per step latency histograms."""

    def __init__(self) -> None:
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def histogram(self, model: str, step: str) -> Histogram:
        key = (model, step)
        found = self._histograms.get(key)
        if found is None:
            found = self._histograms[key] = Histogram()
        return found

    def render(self) -> str:
        out: list[str] = []
        for step in STEPS:
            name = f"request_{step}_seconds"
            series = [(m, h) for (m, s), h in sorted(self._histograms.items()) if s == step]
            if not series:
                continue
            out.append(f"# HELP {name} {step} latency")
            out.append(f"# TYPE {name} histogram")
            for model, histogram in series:
                out.extend(histogram.lines(name, f'model_name="{model}"'))
        return "\n".join(out) + "\n"
