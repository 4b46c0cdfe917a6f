"""Data-path request metrics kept as plain numbers, exported by a collector at scrape time.

Every proxied request records its status code and latency. A ``prometheus_client`` Counter and
Histogram would take a lock and walk the bucket list on each (several microseconds per request,
a measurable share of the warm path); a :class:`RequestSeries` adds to a dict and a list, and
:class:`RequestCollector` turns them into Knative's ``activator_request_count`` and
``activator_request_latencies`` families when ``/metrics`` is read (the same loop: no lock needed).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "RequestCollector", "RequestSeries"]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
)  # fmt: skip
"""Upper bounds (seconds) of the latency histogram; a last bucket (+Inf) catches the rest."""

_LABELS = ("namespace", "isvc", "component", "revision")


class RequestSeries:
    """Requests of one (namespace, ISVC, component, revision): counts by code, latencies."""

    __slots__ = ("buckets", "codes", "sum")

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        """Observations per bucket (not cumulative); index ``i`` holds those ``<= bound[i]``."""
        self.sum = 0.0

    def count(self, code: int) -> None:
        """A request answered with ``code`` before it reached the revision (no latency)."""
        self.codes[code] = self.codes.get(code, 0) + 1

    def observe(self, code: int, seconds: float) -> None:
        """A request the revision served (or failed) with ``code``, after ``seconds``."""
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds


class RequestCollector(Collector):
    """The series by label values, exported as a counter and a histogram family."""

    def __init__(self, counter: str, histogram: str) -> None:
        self._counter = counter
        self._histogram = histogram
        self._series: dict[tuple[str, str, str, str], RequestSeries] = {}

    def series(self, namespace: str, isvc: str, component: str, revision: str) -> RequestSeries:
        """The series of these labels (created on first use, kept for the process's life)."""
        key = (namespace, isvc, component, revision)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = RequestSeries()
        return found

    def totals(self) -> list[tuple[tuple[str, str, str, str], dict[int, int], list[int]]]:
        """A copy of every series: labels, counts by code, observations per latency bucket."""
        return [(k, dict(s.codes), list(s.buckets)) for k, s in self._series.copy().items()]

    def moved(
        self, seen: dict[tuple[str, str, str, str], int]
    ) -> list[tuple[tuple[str, str, str, str], dict[int, int], list[int]]]:
        """A copy of each series whose request count differs from ``seen`` (labels -> count,
        updated in place): a reader polling every series copies only those that moved."""
        out = []
        for key, s in self._series.copy().items():
            n = sum(s.codes.values())
            if seen.get(key) != n:
                seen[key] = n
                out.append((key, dict(s.codes), list(s.buckets)))
        return out

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._series)

    def _families(
        self, series: dict[tuple[str, str, str, str], RequestSeries] | None = None
    ) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            self._counter,
            "Requests through the data path by ISVC, component, revision and status code.",
            labels=(*_LABELS, "code"),
        )
        latency = HistogramMetricFamily(
            self._histogram,
            "Request latency through the data path in seconds (buffered time included).",
            labels=_LABELS,
        )
        for labels, one in (series or {}).copy().items():
            for code, n in sorted(one.codes.items()):
                requests.add_metric([*labels, str(code)], n)
            observed = sum(one.buckets)
            if observed == 0:
                continue
            cumulative, running = [], 0
            for bound, n in zip(LATENCY_BUCKETS, one.buckets, strict=False):
                running += n
                cumulative.append((repr(bound), float(running)))
            cumulative.append(("+Inf", float(observed)))
            latency.add_metric(list(labels), cumulative, one.sum)
        yield requests
        yield latency
