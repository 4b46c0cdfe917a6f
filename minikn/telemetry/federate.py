"""Merge other processes' Prometheus expositions into one, each sample labelled with where it came
from (pure: text in, text out).

The platform's ``/metrics`` appends the InferenceGraph routers' ``minikn_graph_*`` families this
way: ``merge_expositions([({"revision": "g-router-00001", "replica": "r1"}, text), ...],
"minikn_graph_")`` renders each family once, with every replica's samples under its labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = ["merge_expositions"]


class _Fixed(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def merge_expositions(scrapes: Iterable[tuple[Mapping[str, str], str]], prefix: str) -> bytes:
    """The families named ``prefix*`` of each (labels, exposition text), each sample with the
    scrape's labels added (they win over the sample's own); an unparsable text is skipped."""
    families: dict[str, Metric] = {}
    for labels, text in scrapes:
        try:
            parsed = list(text_string_to_metric_families(text))
        except (ValueError, TypeError, IndexError):
            continue
        for family in parsed:
            if not family.name.startswith(prefix) or family.name.endswith("_created"):
                continue  # a ``_created`` timestamp is per process, meaningless once merged
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                merged.samples.append(sample._replace(labels={**sample.labels, **labels}))
    if not families:
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry)
