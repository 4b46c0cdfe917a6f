"""``minikn simulate``: argument parsing and output of the simulator.

The platform CLI calls :func:`add_simulate_arguments` and :func:`simulate_command`. The autoscaler
may not import the control plane, so the ISVC is turned into a revision by a ``load_revision``
callable the caller passes (the platform's own loader, so the simulated revision gets exactly the
annotations ``minikn apply`` would give it: one KServe mapping, in one place).
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from minikn.autoscaler.spec import ScalingSpec, build_spec, validate_annotations
from minikn.config.loader import ConfigError, Settings, load_settings
from minikn.core.errors import InvalidInput
from minikn.sim.simulate import SimResult, SimTiming, Start, simulate
from minikn.sim.traces import StartModel, load_trace, parse_start_model

__all__ = [
    "LoadRevision",
    "RevisionInputs",
    "add_simulate_arguments",
    "run_many",
    "simulate_command",
    "summary_ranges",
]

RevisionInputs = tuple[str, dict[str, str], int, float | None, int | None]
"""(revision name, annotations, containerConcurrency, cpu cores, memory bytes)."""
LoadRevision = Callable[[Path, Settings, str], RevisionInputs]


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``minikn simulate``."""
    parser.add_argument("--isvc", required=True, type=Path, help="InferenceService YAML file")
    parser.add_argument(
        "--trace", required=True, help="CSV of arrival,service seconds, or builtin:step|ramp|..."
    )
    parser.add_argument("--config", type=Path, help="platform config YAML (config-autoscaler)")
    parser.add_argument(
        "--out",
        type=Path,
        help="write simulation.csv, decisions.csv (and .png) of the first run here",
    )
    parser.add_argument("--component", default="predictor", help="component to simulate")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--start-time", type=float, help="fixed replica start time in seconds")
    start.add_argument(
        "--start-model",
        default="fixed:2.5",
        help="replica start time: fixed:S, uniform:A,B, lognormal:MEDIAN,SIGMA, samples:S1,S2,.. "
        "(a sample may be S@N: N replicas were starting with it); add +together:S for S seconds "
        "more per other replica starting at once (minikn simulate also takes measured: the "
        "running platform's own measurements)",
    )
    parser.add_argument(
        "--overhead",
        default="fixed:0",
        help="seconds each request spends beyond its service time (proxying, the client): fixed:S, "
        "uniform:A,B, lognormal:MEDIAN,SIGMA or samples:S1,S2,..; it holds the replica slot "
        "(default fixed:0)",
    )
    parser.add_argument(
        "--buffered-overhead",
        help="the same for a request served from the activator's buffer (it takes the slower "
        "lane; default: --overhead)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        help="seconds the revision was idle before the trace (default: long, its windows full of "
        "the activator's zero reports); not with --from-created",
    )
    parser.add_argument(
        "--from-created",
        action="store_true",
        help="start from a freshly created revision (its initial scale starting at t=0) instead "
        "of the default: the revision as a load test finds it, long idle (at zero when it can "
        "scale to zero, else at its minimum with those replicas ready)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=10,
        help="runs with a random phase of the platform's tick (and stats-report) grid against "
        "the first request; prints min/median/max of each figure (default 10)",
    )
    parser.add_argument(
        "--report-lag",
        metavar="A,B",
        help="each stats report comes A..B s after a tick (negative: before it) instead of "
        "0.05 s before it, as the platform places it",
    )
    parser.add_argument(
        "--tick-lateness",
        default="fixed:0",
        help="how long after its 2-second schedule each autoscaler tick runs (a busy event "
        "loop): fixed:S, uniform:A,B, lognormal:MEDIAN,SIGMA or samples:S1,S2,.. (default "
        "fixed:0)",
    )
    parser.add_argument(
        "--handover",
        default="fixed:0",
        help="how long after it is ready a replica takes its first request (the activator's "
        "handover): fixed:S, ... or samples:S@N,.. (N: replicas ready with it, itself included; "
        "default fixed:0)",
    )
    parser.add_argument(
        "--ideal-timing",
        action="store_true",
        help="one run, ticks at exactly 2, 4, 6 s and stats at 1, 2, 3 s after the trace starts",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (trace and starts)")
    parser.add_argument("--duration", type=float, help="simulated seconds (default: until idle)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a request may wait in the buffer (default: revision-timeout-seconds)",
    )


def simulate_command(args: argparse.Namespace, *, load_revision: LoadRevision) -> int:
    """Run ``minikn simulate``; returns the exit code."""
    try:
        settings = load_settings(args.config)
        name, ann, cc, cpu, mem = load_revision(args.isvc, settings, args.component)
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
        overhead = _overhead("--overhead", args.overhead)
        buffered = _overhead("--buffered-overhead", args.buffered_overhead or args.overhead)
        if args.idle is not None and (args.idle < 0 or args.from_created):
            raise InvalidInput("--idle: seconds >= 0, and only for a revision at rest")
        lag = _report_lag(args.report_lag)
        lateness = _overhead("--tick-lateness", args.tick_lateness)
        handover = parse_start_model(args.handover)
        trace = load_trace(args.trace, seed=args.seed)
    except (InvalidInput, ConfigError) as exc:
        print(f"minikn simulate: {exc}", file=sys.stderr)
        return 2
    timeout = args.timeout or float(settings.defaults.revision_timeout_seconds)
    start: Start = "created" if args.from_created else "rest"
    timings = [SimTiming()] if args.ideal_timing else None
    results = run_many(
        spec, trace, start_model=model, seed=args.seed, runs=max(1, args.runs), timings=timings,
        duration=args.duration, timeout=timeout, start=start, idle=args.idle, report_lag=lag,
        overhead=overhead, buffered_overhead=buffered, tick_lateness=lateness, handover=handover,
    )  # fmt: skip
    _print(spec, results, f"{model}, request overhead {overhead} (buffered {buffered}), tick "
           f"lateness {lateness}, handover {handover}", start)  # fmt: skip
    if args.out is not None:
        for path in write_outputs(results[0], args.out):
            print(f"wrote {path}")
    return 0


def run_many(
    spec: ScalingSpec, trace: list[tuple[float, float]], *, start_model: StartModel, seed: int,
    runs: int, timings: list[SimTiming] | None = None, duration: float | None = None,
    timeout: float = 300.0, start: Start = "rest", idle: float | None = None,
    overhead: StartModel | None = None, buffered_overhead: StartModel | None = None,
    tick_phase: float | None = None,
    report_lag: tuple[float, float] | None = None, tick_lateness: StartModel | None = None,
    handover: StartModel | None = None,
) -> list[SimResult]:  # fmt: skip
    """``runs`` simulations of one trace: run k draws its tick, report and clock phases, its start
    times and its overheads from seed ``seed + k`` (or takes ``timings[k]``); ``tick_phase`` and
    ``report_lag`` as in :meth:`SimTiming.draw`; ``tick_lateness`` and ``handover`` as in
    :func:`simulate`."""
    if timings is None:
        timings = [
            SimTiming.draw(random.Random(seed + k), tick_phase=tick_phase, report_lag=report_lag)
            for k in range(runs)
        ]
    return [
        simulate(spec, trace, start_model=start_model, seed=seed + k, duration=duration,
                 timeout=timeout, start=start, timing=timing, idle=idle, overhead=overhead,
                 buffered_overhead=buffered_overhead, tick_lateness=tick_lateness,
                 handover=handover)
        for k, timing in enumerate(timings)
    ]  # fmt: skip


def _overhead(flag: str, text: str) -> StartModel:
    model = parse_start_model(text)
    if model.per_other or model.together:
        raise InvalidInput(f"{flag} {text}: no +together or @count here")
    return model


def _report_lag(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    low, _, high = text.partition(",")
    try:
        lag = (float(low), float(high or low))
    except ValueError:
        lag = (math.nan, math.nan)  # fails the check below
    if not -1 <= lag[0] <= lag[1] < 1:
        raise InvalidInput(f"--report-lag {text}: expected A,B seconds with -1 <= A <= B < 1")
    return lag


def summary_ranges(results: list[SimResult]) -> dict[str, tuple[float, float, float]]:
    """(min, median, max) over ``results`` of every printed figure."""
    table: dict[str, list[float]] = {}
    for r in results:
        for key, value in {
            **r.summary(),
            **{k: f"{v:.3f}" for k, v in r.figures().items()},
        }.items():
            table.setdefault(key, []).append(float(value))
    return {k: (min(v), statistics.median(v), max(v)) for k, v in table.items()}


def _print(spec: ScalingSpec, results: list[SimResult], model: str, start: Start) -> None:
    begin = "at rest (as a load test finds it)" if start == "rest" else "freshly created"
    print(
        f"revision {spec.revision}: metric {spec.metric}, target {spec.target_value:g}/replica, "
        f"containerConcurrency {spec.container_concurrency}, replica start {model}, "
        f"starting {begin}, {len(results)} run(s)"
    )
    print(f"  {'':<52} {'min':>9} {'median':>9} {'max':>9}")
    for key, (lo, mid, hi) in summary_ranges(results).items():
        print(f"  {key:<52} {lo:>9g} {mid:>9g} {hi:>9g}")


def write_outputs(result: SimResult, out: Path) -> list[Path]:
    """simulation.csv, decisions.csv (each evaluation that changed the scale, as the platform's
    decision log shows it) and simulation.png when matplotlib is installed; returns what was
    written."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "simulation.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "concurrency", "desired", "ready", "queued", "panic"])
        for r in result.rows:
            w.writerow([r.time, f"{r.concurrency:.3f}", r.desired, r.ready, r.queued, int(r.panic)])
    written = [path]
    path = out / "decisions.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "desired", "applied", "stable", "panic", "ready", "panic_mode"])
        for d in result.decisions:
            w.writerow([f"{d.time:.3f}", d.desired, d.applied, f"{d.stable:.3f}", f"{d.panic:.3f}",
                        d.ready, int(d.panic_mode)])  # fmt: skip
    written.append(path)
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
    ax1.set_ylabel("requests")
    ax1.legend(loc="upper right")
    ax2.step(t, [r.desired for r in result.rows], label="desired", where="post")
    ax2.step(t, [r.ready for r in result.rows], label="ready", where="post")
    ax2.fill_between(t, 0, [r.panic * max(1, r.desired) for r in result.rows], alpha=0.2,
                     step="post", label="panic")  # fmt: skip
    ax2.set_xlabel("simulated time (s)")
    ax2.set_ylabel("replicas")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
