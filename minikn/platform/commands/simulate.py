"""``minikn simulate``: replay a trace through the autoscaler on a virtual clock.

The ISVC is read by the control plane's own parser and KServe mapping, so the simulated revision
gets exactly the annotations ``minikn apply`` would give it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from minikn.autoscaler.cli import RevisionInputs, add_simulate_arguments, simulate_command
from minikn.config import Settings, load_settings
from minikn.core.errors import InvalidInput, MiniknError
from minikn.core.revision import ComponentName
from minikn.platform.client import ApiClient
from minikn.platform.commands.common import SubParsers, fail
from minikn.platform.containers import parse_cpu, parse_memory
from minikn.platform.documents import load_paths
from minikn.platform.revisions import revision_annotations, revision_name
from minikn.platform.validate import ParsedIsvc, parse_document

__all__ = ["load_revision", "register", "start_samples"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a request trace through the autoscaler offline",
        epilog="By default the revision starts the trace as a load test finds it: at zero when "
        "it can scale to zero (so the first requests are cold starts), else at its minimum; "
        "--from-created starts from a freshly created revision at its initial scale. "
        "--start-model measured uses the start-to-ready times a running platform "
        "measured (its minikn_replica_start_to_ready_seconds histogram, for the ISVC's name; "
        "the platform from --server / MINIKN_SERVER).",
    )
    add_simulate_arguments(p)
    p.add_argument("--server", default=None, help="platform API for --start-model measured")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.start_model == "measured":
        try:
            isvc = load_revision(args.isvc, load_settings(args.config), args.component)[0]
            text = ApiClient(args.server).text("/metrics")
            samples = start_samples(text, isvc.rsplit("-", 2)[0])
        except MiniknError as exc:
            return fail(f"--start-model measured: {exc.message}")
        args.start_model = "samples:" + ",".join(f"{x:.3f}" for x in samples)
    return simulate_command(args, load_revision=load_revision)


def start_samples(metrics_text: str, isvc: str) -> list[float]:
    """Replica start times from the platform's start-to-ready histogram for ``isvc`` (pure):
    each observation becomes its bucket's midpoint (the +Inf bucket: 1.5x the last bound)."""
    counts: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "minikn_replica_start_to_ready_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("isvc") == isvc:
                le = float(sample.labels["le"])
                counts[le] = counts.get(le, 0.0) + sample.value
    out: list[float] = []
    prev_bound, prev_count = 0.0, 0.0
    for bound in sorted(counts):
        n = round(counts[bound] - prev_count)
        value = prev_bound * 1.5 if bound == float("inf") else (prev_bound + bound) / 2
        out += [value] * n
        prev_bound, prev_count = (bound if bound != float("inf") else prev_bound), counts[bound]
    if not out:
        raise InvalidInput(f"the platform has measured no replica start of {isvc} yet")
    return out


def load_revision(path: Path, settings: Settings, component: str) -> RevisionInputs:
    """The first ISVC in ``path``, as the control plane would build the component's revision."""
    for doc in load_paths([str(path)]):
        parsed = parse_document(doc, settings)
        if isinstance(parsed, ParsedIsvc):
            break
    else:
        raise InvalidInput(f"{path}: no InferenceService found")
    name: ComponentName = component  # type: ignore[assignment]
    intent = parsed.components.get(name)
    if intent is None:
        raise InvalidInput(f"{path}: the InferenceService has no {component}")
    spec = intent.spec
    meta = parsed.metadata.annotations or {}
    annotations = revision_annotations(spec, meta, settings)
    cc = spec.container_concurrency or settings.defaults.container_concurrency
    limits = _resources(spec)
    cpu = parse_cpu(limits["cpu"]) if "cpu" in limits else None
    memory = parse_memory(limits["memory"]) if "memory" in limits else None
    return revision_name(parsed.name, name, 1), annotations, cc, cpu, memory


def _resources(spec: object) -> dict[str, str]:
    """Resource requests (falling back to limits, as Kubernetes defaults them) of the serving
    container: what HPA utilization is measured against."""
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
    containers = list(dumped.get("containers") or [])
    impl = next((v for v in dumped.values() if isinstance(v, dict) and "resources" in v), None)
    resources = (containers[0] if containers else impl or {}).get("resources") or {}
    return {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
