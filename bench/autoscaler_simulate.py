"""Simulator speed: simulated seconds per wall second for one hour of a 100 requests/s trace.

    python bench/autoscaler_simulate.py [--rate 100] [--seconds 3600] [--runs 3]

Baseline in the same run: real time (1x) and the goal of 360x (an hour in under 10 s). Prints,
per run, the trace generation time, the simulation time and the speed (simulation alone, and
trace generation + simulation), then the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

from minikn.autoscaler.spec import build_spec
from minikn.config.autoscaler import AutoscalerConfig
from minikn.sim.simulate import simulate
from minikn.sim.traces import builtin_trace, parse_start_model

GOAL = 360.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    # containerConcurrency 10 (target 7/replica) so the run scales to several replicas.
    spec = build_spec("bench-predictor-00001", {}, container_concurrency=10,
                      config=AutoscalerConfig())  # fmt: skip
    model = parse_start_model("lognormal:2.5,0.3")
    shape = f"diurnal:low=10,high={args.rate * 2 - 10:g},duration={args.seconds:g},service=0.2"
    speeds, totals = [], []
    print(f"{'run':>4} {'requests':>9} {'gen (s)':>8} {'sim (s)':>8} {'sim x':>8} {'e2e x':>8}")
    for run in range(1, args.runs + 1):
        t0 = time.perf_counter()
        trace = builtin_trace(shape, seed=run)
        t1 = time.perf_counter()
        res = simulate(spec, trace, start_model=model, seed=run)
        t2 = time.perf_counter()
        speed, total = res.duration / (t2 - t1), res.duration / (t2 - t0)
        speeds.append(speed)
        totals.append(total)
        print(
            f"{run:>4} {res.requests:>9} {t1 - t0:>8.2f} {t2 - t1:>8.2f} {speed:>7.0f}x "
            f"{total:>7.0f}x"
        )
    s, t = statistics.median(speeds), statistics.median(totals)
    print(
        f"median: simulation {s:.0f}x real time, with trace generation {t:.0f}x "
        f"(baseline real time 1x; goal {GOAL:.0f}x -> {t / GOAL:.1f}x the goal)"
    )


if __name__ == "__main__":
    main()
