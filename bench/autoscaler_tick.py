"""Autoscaler tick benchmark: one 2 s tick over 1,000 revisions, next to the same loop over an
empty decision (its floor: iteration, scaler calls, gauges), same run.

    python bench/autoscaler_tick.py [--revisions 1000] [--ticks 30] [--runs 3]

Every revision gets one per-second stat (varying concurrency, so decisions change) before each
tick; the fake scaler reports the applied scale as ready. Prints the mean tick time per run for
the real decision and for the empty one, their ratio, and the medians.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from minikn.autoscaler.engine import Evaluation, KpaScaler
from minikn.autoscaler.loop import Autoscaler
from minikn.config.loader import Settings
from minikn.core.clock import FakeClock
from minikn.core.endpoints import Endpoint, RevisionStats
from minikn.core.revision import ContainerSpec, RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.telemetry.metrics import Metrics


@dataclass(frozen=True)
class Counts:
    pending: int = 0


@dataclass
class Scaler:
    replicas: dict[str, int] = field(default_factory=dict)

    def ready_count(self, revision: str) -> int:
        return self.replicas.get(revision, 0)

    def set_desired(self, revision: str, replicas: int) -> None:
        self.replicas[revision] = replicas

    def usage(self, revision: str) -> ResourceUsage:
        return ResourceUsage()

    def status(self, revision: str) -> Counts:
        return Counts()


class Listener:
    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None: ...
    def revision_ready(self, revision: str) -> None: ...
    def revision_failed(self, revision: str, reason: str, message: str) -> None: ...
    def revision_recovered(self, revision: str) -> None: ...


def build(n: int) -> tuple[Autoscaler, FakeClock, list[str]]:
    clock = FakeClock()
    a = Autoscaler(Settings(), clock=clock, scaler=Scaler(), listener=Listener(), metrics=Metrics())
    names = []
    for i in range(n):
        name = f"svc{i}-predictor-00001"
        spec = RevisionSpec(name=name, isvc=f"svc{i}", component="predictor", generation=1,
                            container=ContainerSpec(image="x"))  # fmt: skip
        a.upsert(spec, routable=True)
        names.append(name)
    return a, clock, names


def measure(n: int, ticks: int, *, empty: bool) -> float:
    a, clock, names = build(n)
    if empty:
        frozen = Evaluation(None, 1, None, None, None)

        def evaluate(
            self: KpaScaler, now: float, *, ready: int, usage: object = None
        ) -> Evaluation:
            return frozen

        KpaScaler.evaluate = evaluate  # type: ignore[method-assign]
    now = clock.monotonic()
    total = 0.0
    for k in range(ticks):
        for s in (1.0, 2.0):
            for j, name in enumerate(names):
                a.record(RevisionStats(name, now + s, concurrency=float((j + k) % 200), rps=1.0))
        now += 2.0
        started = time.perf_counter()
        a.tick(now)
        total += time.perf_counter() - started
    return total / ticks


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--revisions", type=int, default=1000)
    p.add_argument("--ticks", type=int, default=30)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    logging.disable(logging.INFO)  # the decision log would dominate; it is not the decision
    real_evaluate = KpaScaler.evaluate
    reals, empties = [], []
    print(f"{'run':>4} {'tick (ms)':>10} {'empty (ms)':>11} {'ratio':>6}")
    for run in range(1, args.runs + 1):
        KpaScaler.evaluate = real_evaluate  # type: ignore[method-assign]
        real = measure(args.revisions, args.ticks, empty=False)
        empty = measure(args.revisions, args.ticks, empty=True)
        KpaScaler.evaluate = real_evaluate  # type: ignore[method-assign]
        reals.append(real)
        empties.append(empty)
        print(f"{run:>4} {real * 1e3:>10.2f} {empty * 1e3:>11.2f} {real / empty:>6.1f}")
    r, e = statistics.median(reals), statistics.median(empties)
    print(
        f"median for {args.revisions} revisions: tick {r * 1e3:.2f} ms, empty-decision floor "
        f"{e * 1e3:.2f} ms, ratio {r / e:.1f}x; {r / args.revisions * 1e6:.1f} us per revision"
    )


if __name__ == "__main__":
    main()
