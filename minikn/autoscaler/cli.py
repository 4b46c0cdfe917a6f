"""``minikn simulate``: argument parsing and output of the simulator.

The platform CLI calls :func:`add_simulate_arguments` and :func:`simulate_command`. The autoscaler
may not import the control plane, so the ISVC is turned into a revision by a ``load_revision``
callable the caller passes (the platform's own loader, which applies every KServe default);
without one, :func:`read_isvc` applies KServe's autoscaling mapping to the component directly.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from minikn.autoscaler.simulate import SimResult, simulate
from minikn.autoscaler.spec import PREFIX, ScalingSpec, build_spec, validate_annotations
from minikn.autoscaler.traces import load_trace, parse_start_model
from minikn.config.autoscaler import HPA_CLASS
from minikn.config.loader import ConfigError, Settings, load_settings
from minikn.core.errors import InvalidInput

__all__ = ["RevisionInputs", "add_simulate_arguments", "read_isvc", "simulate_command"]

RevisionInputs = tuple[str, dict[str, str], int, float | None, int | None]
"""(revision name, annotations, containerConcurrency, cpu cores, memory bytes)."""
LoadRevision = Callable[[Path, Settings, str], RevisionInputs]

_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3}


def _cpu(q: Any) -> float | None:
    if q is None:
        return None
    text = str(q)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _memory(q: Any) -> int | None:
    if q is None:
        return None
    text = str(q)
    for unit, mult in _UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * mult)
    return int(float(text))


def read_isvc(path: Path, settings: Settings, component: str = "predictor") -> RevisionInputs:
    """KServe's Knative-mode mapping of one component: minReplicas -> min-scale (default 1),
    maxReplicas -> max-scale (0 = unlimited), scaleTarget -> target, scaleMetric -> metric
    (cpu/memory -> the hpa class unless a class is set)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read the InferenceService: {exc}") from exc
    isvc = next((d for d in docs if d.get("kind") == "InferenceService"), None)
    if isvc is None:
        raise InvalidInput(f"{path}: no InferenceService document")
    meta = isvc.get("metadata") or {}
    comp = (isvc.get("spec") or {}).get(component)
    if not isinstance(comp, dict):
        raise InvalidInput(f"{path}: the InferenceService has no {component}")
    ann = {
        str(k): str(v)
        for src in (meta.get("annotations") or {}, comp.get("annotations") or {})
        for k, v in src.items()
        if str(k).startswith(PREFIX) or str(k) == "serving.knative.dev/progress-deadline"
    }
    for legacy in ("min-scale", "minScale", "max-scale", "maxScale"):
        ann.pop(PREFIX + legacy, None)
    ann[PREFIX + "min-scale"] = str(comp.get("minReplicas", 1))
    if comp.get("maxReplicas"):
        ann[PREFIX + "max-scale"] = str(comp["maxReplicas"])
    if comp.get("scaleTarget") is not None:
        ann[PREFIX + "target"] = str(comp["scaleTarget"])
    if comp.get("scaleMetric") is not None:
        ann[PREFIX + "metric"] = str(comp["scaleMetric"])
        if ann[PREFIX + "metric"] in ("cpu", "memory"):
            ann.setdefault(PREFIX + "class", HPA_CLASS)  # resource metrics scale HPA-style
    cc = int(comp.get("containerConcurrency", settings.defaults.container_concurrency))
    container: Mapping[str, Any] = comp.get("model") or next(iter(comp.get("containers") or []), {})
    res = container.get("resources") or {}
    req = {**(res.get("limits") or {}), **(res.get("requests") or {})}
    name = f"{meta.get('name', 'isvc')}-{component}-00001"
    return name, ann, cc, _cpu(req.get("cpu")), _memory(req.get("memory"))


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``minikn simulate``."""
    parser.add_argument("--isvc", required=True, type=Path, help="InferenceService YAML file")
    parser.add_argument(
        "--trace", required=True, help="CSV of arrival,service seconds, or builtin:step|ramp|..."
    )
    parser.add_argument("--config", type=Path, help="platform config YAML (config-autoscaler)")
    parser.add_argument("--out", type=Path, help="write simulation.csv (and .png) here")
    parser.add_argument("--component", default="predictor", help="component to simulate")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--start-time", type=float, help="fixed replica start time in seconds")
    start.add_argument(
        "--start-model",
        default="fixed:2.5",
        help="replica start time: fixed:S, uniform:A,B, lognormal:MEDIAN,SIGMA, samples:S1,S2,..",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (trace and starts)")
    parser.add_argument("--duration", type=float, help="simulated seconds (default: until idle)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a request may wait in the buffer (default: revision-timeout-seconds)",
    )


def simulate_command(args: argparse.Namespace, *, load_revision: LoadRevision | None = None) -> int:
    """Run ``minikn simulate``; returns the exit code."""
    try:
        settings = load_settings(args.config)
        loader = load_revision or read_isvc
        name, ann, cc, cpu, mem = loader(args.isvc, settings, args.component)
        errors = validate_annotations(ann, container_concurrency=cc, config=settings.autoscaler)
        if errors:
            raise InvalidInput("; ".join(errors))
        spec = build_spec(
            name, ann, container_concurrency=cc, config=settings.autoscaler,
            progress_deadline=settings.deployment.progress_deadline, cpu_request=cpu,
            memory_request=mem,
        )  # fmt: skip
        if spec.is_hpa:
            raise InvalidInput("the simulator models KPA (concurrency/rps) revisions only")
        model_text = f"fixed:{args.start_time}" if args.start_time is not None else args.start_model
        model = parse_start_model(model_text)
        trace = load_trace(args.trace, seed=args.seed)
    except (InvalidInput, ConfigError) as exc:
        print(f"minikn simulate: {exc}", file=sys.stderr)
        return 2
    timeout = args.timeout or float(settings.defaults.revision_timeout_seconds)
    result = simulate(
        spec, trace, start_model=model, seed=args.seed, duration=args.duration, timeout=timeout
    )
    _print(spec, result, str(model))
    if args.out is not None:
        write_outputs(result, args.out)
    return 0


def _print(spec: ScalingSpec, result: SimResult, model: str) -> None:
    print(
        f"revision {spec.revision}: metric {spec.metric}, target {spec.target_value:g}/replica, "
        f"containerConcurrency {spec.container_concurrency}, replica start {model}"
    )
    for key, value in result.summary().items():
        print(f"  {key:<52} {value}")


def write_outputs(result: SimResult, out: Path) -> list[Path]:
    """simulation.csv, and simulation.png when matplotlib is installed; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "simulation.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "concurrency", "desired", "ready", "queued", "panic"])
        for r in result.rows:
            w.writerow([r.time, f"{r.concurrency:.3f}", r.desired, r.ready, r.queued, int(r.panic)])
    written = [path]
    png = _plot(result, out / "simulation.png")
    if png is not None:
        written.append(png)
    return written


def _plot(result: SimResult, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    t = [r.time for r in result.rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    ax1.plot(t, [r.concurrency for r in result.rows], label="concurrency")
    ax1.plot(t, [r.queued for r in result.rows], label="queued")
    ax1.legend(loc="upper right")
    ax2.step(t, [r.desired for r in result.rows], label="desired", where="post")
    ax2.step(t, [r.ready for r in result.rows], label="ready", where="post")
    ax2.fill_between(t, 0, [r.panic * max(1, r.desired) for r in result.rows], alpha=0.2,
                     step="post", label="panic")  # fmt: skip
    ax2.set_xlabel("seconds")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
