"""What the data plane pays for N idle revisions: per second and per publish (issue 21).

    python bench/dataplane_idle_costs.py [--sizes 1000,10000] [--reps 20] [--runs 3]

The real parts, in-process, no sockets: a DataPlane (process backend, never started: nothing is
spawned) holding N zero-scale revisions, its Activator reporting to its Autoscaler, and its
Router's route index over N ISVC routes. Per N, medians of ``--reps``:

* report: one activator stats report (what runs every second) with every revision idle;
* publish: ``DataPlane.revisions_changed`` with one more revision among N (what each apply's
  publish costs the data plane);
* route update: the router's index given a table with one more ISVC route among N.

Runs against any checkout (it uses the index's ``update`` or, before it, ``updated``), so the
same command on the code before a change is the same-run baseline. Prints a Markdown row per N:
the median of ``--runs`` runs of each figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from minikn.config import Settings
from minikn.core.clock import SystemClock
from minikn.core.events import EventSink
from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, RevisionSpec
from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget
from minikn.platform.dataplane import DataPlane
from minikn.telemetry.metrics import Metrics

ZERO = {"autoscaling.knative.dev/initial-scale": "0"}


def _spec(i: int) -> RevisionSpec:
    name = f"m-{i:05d}"
    return RevisionSpec(
        name=f"{name}-predictor-00001",
        isvc=name,
        component="predictor",
        generation=1,
        container=ContainerSpec(image="x"),
        annotations=ZERO,
    )


def _route(i: int) -> IsvcRoute:
    name = f"m-{i:05d}"
    target = TrafficTarget(revision=f"{name}-predictor-00001", percent=100, tag="latest")
    return IsvcRoute(
        name=name,
        components=(ComponentRoute(component="predictor", targets=(target,)),),
        model_names=(name,),
    )


def _median_ms(fn: Callable[[int], None], reps: int) -> float:
    times = []
    for k in range(reps):
        t = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def one_run(n: int, reps: int, state: Path) -> dict[str, float]:
    settings = Settings.model_validate({"config-autoscaler": {"allow-zero-initial-scale": True}})
    dp = DataPlane(
        settings,
        clock=SystemClock(),
        backend="process",
        state_dir=state,
        listener=RecordingListener(),
        events=EventSink(),
        metrics=Metrics(),
    )
    dp._started = True  # wired, never started: publishes apply, nothing is spawned
    dp._ingress = "127.0.0.1:8080"
    specs = [_spec(i) for i in range(n)]
    dp.revisions_changed(specs, {s.name for s in specs})
    out: dict[str, float] = {}
    out["report_ms"] = _median_ms(lambda _: dp.activator.report(), reps)

    extra = [_spec(n + k) for k in range(reps)]
    lives = [specs + extra[: k + 1] for k in range(reps)]  # built outside the timing
    routables = [{s.name for s in live} for live in lives]
    out["publish_ms"] = _median_ms(lambda k: dp.revisions_changed(lives[k], routables[k]), reps)

    routes = tuple(_route(i) for i in range(n))
    index = dp.router._index
    update = getattr(index, "update", None)
    if update is None:  # before the in-place update: a new index per table

        def update(table: RouteTable) -> None:
            dp.router._index = dp.router._index.updated(table)

    update(RouteTable(isvcs=routes))
    more = [_route(n + k) for k in range(reps)]
    tables = [RouteTable.model_construct(isvcs=routes + tuple(more[: k + 1])) for k in range(reps)]
    out["route_update_ms"] = _median_ms(lambda k: update(tables[k]), reps)
    return out


COLUMNS = [
    ("report_ms", "report (ms)", "{:.2f}"),
    ("publish_ms", "publish, one more (ms)", "{:.2f}"),
    ("route_update_ms", "route update, one more (ms)", "{:.2f}"),
]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    print("| N | " + " | ".join(c[1] for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for n in (int(s) for s in args.sizes.split(",")):
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(one_run(n, args.reps, Path(tmp)))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        cells = [fmt.format(med[k]) for k, _, fmt in COLUMNS]
        print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
