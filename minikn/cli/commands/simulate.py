"""``minikn simulate``: replay a trace through the autoscaler on a virtual clock.

The ISVC is read by the control plane's own parser and KServe mapping, so the simulated revision
gets exactly the annotations ``minikn apply`` would give it.
"""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path
from typing import Any

from minikn.api.containers import parse_cpu, parse_memory
from minikn.api.documents import load_paths
from minikn.api.validate import ParsedIsvc, parse_document
from minikn.apiserver.client import ApiClient
from minikn.apiserver.starts import START_TIMES_PATH
from minikn.cli.commands.common import SubParsers, fail
from minikn.config import Settings
from minikn.controlplane.revisions import revision_annotations, revision_name
from minikn.core.errors import InvalidInput, MiniknError
from minikn.core.revision import ComponentName
from minikn.sim.cli import RevisionInputs, add_simulate_arguments, simulate_command

__all__ = ["load_revision", "register", "start_samples"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a request trace through the autoscaler offline",
        epilog="By default the revision starts the trace as a load test finds it: at zero when "
        "it can scale to zero (so the first requests are cold starts), else at its minimum; "
        "--from-created starts from a freshly created revision at its initial scale. "
        "--start-model measured uses the exact start-to-ready times a running platform "
        "recorded for the ISVC's component (its recent replicas; the platform from --server / "
        "MINIKN_SERVER).",
    )
    add_simulate_arguments(p)
    p.add_argument("--server", default=None, help="platform API for --start-model measured")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.start_model == "measured":
        try:
            namespace, name = _isvc_name(args.isvc)
            path = START_TIMES_PATH.format(ns=namespace, name=name)
            query = urllib.parse.urlencode({"component": args.component})
            answer = ApiClient(args.server).request("GET", f"{path}?{query}")
            samples = start_samples(answer, f"{namespace}/{name}")
        except MiniknError as exc:
            return fail(f"--start-model measured: {exc.message}")
        args.start_model = "samples:" + ",".join(repr(x) for x in samples)
    return simulate_command(args, load_revision=load_revision)


def _isvc_name(path: Path) -> tuple[str, str]:
    for doc in load_paths([str(path)]):
        if doc.kind == "InferenceService" and doc.name:
            return doc.namespace, doc.name
    raise InvalidInput(f"{path}: no InferenceService found")


def start_samples(answer: Any, isvc: str) -> list[float]:
    """The start times of the platform's ``starttimes`` answer (pure), exactly as recorded."""
    seconds = answer.get("seconds") if isinstance(answer, dict) else None
    if not seconds:
        component = answer.get("component", "?") if isinstance(answer, dict) else "?"
        raise InvalidInput(f"the platform has measured no replica start of {isvc} {component} yet")
    return [float(x) for x in seconds]


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
