"""The simulator: deterministic, event-driven, through the same engine as the live loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.autoscaler.spec import build_spec
from minikn.config.autoscaler import AutoscalerConfig
from minikn.core.errors import InvalidInput
from minikn.sim.simulate import SimRow, simulate
from minikn.sim.traces import builtin_trace, load_trace, parse_start_model

CFG = AutoscalerConfig()
SMALL = build_spec(
    "r-1", {"autoscaling.knative.dev/target": "2"}, container_concurrency=2, config=CFG
)
"""CC 2, target 2 -> 1.4 per replica."""
TRACE = [(i / 4, 1.0) for i in range(40)]
"""10 s of 4 requests/s, 1 s each (concurrency ~4), then silence."""


def test_golden_summary_of_a_small_trace() -> None:
    # Hand-checked start: the first request (t=0) pokes; the activator's immediate sample (1)
    # gives desired 1 (one replica, ready at t=3); 12 requests arrive before then (cold starts).
    # The t=2 tick sees buckets 1, 2.5, 6.5 over a 3 s partial window = 3.333 ->
    # ceil(3.333/1.4) = 3 and 3 / R(1) >= 2 -> panic (row t=3: desired 3). The rest is a golden
    # (regression) record: panic grows to 11 replicas, ends a stable window after the last
    # over-threshold tick, then the revision goes to zero; the run stops when it is idle.
    r = simulate(SMALL, TRACE, start_model=parse_start_model("fixed:3"))
    assert r.summary() == {
        "requests": "40",
        "served": "40",
        "timed out in the buffer (504)": "0",
        "cold starts (requests that found no ready replica)": "12",
        "replica starts": "11",
        "queue wait p50 (s)": "2.000",
        "queue wait p99 (s)": "4.000",
        "replica-seconds": "734.0",
        "max replicas": "11",
        "time in panic (s)": "68",
        "simulated seconds": "109",
    }
    assert r.rows[0] == SimRow(1, 2.5, 1, 0, 4, False)
    assert r.rows[-1] == SimRow(109, 0.0, 0, 0, 0, False)


def test_same_inputs_give_the_same_output_and_the_seed_matters() -> None:
    model = parse_start_model("lognormal:2.5,0.5")
    runs = [
        simulate(
            SMALL, builtin_trace("step:duration=120,high=20", seed=s), start_model=model, seed=s
        )
        for s in (7, 7, 8)
    ]
    assert runs[0].summary() == runs[1].summary()
    assert runs[0].rows == runs[1].rows
    assert runs[0].rows != runs[2].rows


def test_step_trace_scales_up_and_back_to_zero() -> None:
    spec = build_spec("r-1", {}, container_concurrency=10, config=CFG)  # target 7
    trace = builtin_trace("step:low=5,high=100,duration=240,service=0.5", seed=1)
    r = simulate(spec, trace, start_model=parse_start_model("fixed:1"))
    peak = max(row.desired for row in r.rows)
    # 100 req/s x 0.5 s = 50 concurrent -> ceil(50/7) = 8 replicas at least
    assert peak >= 8
    assert r.rows[-1].desired == 0
    assert r.served == r.requests


@pytest.mark.parametrize("shape", ["constant", "step", "ramp", "spike", "diurnal"])
def test_builtin_shapes_are_sorted_and_within_duration(shape: str) -> None:
    trace = builtin_trace(f"{shape}:duration=60", seed=3)
    assert trace
    assert trace == sorted(trace)
    assert all(0 <= a < 60 and s >= 0 for a, s in trace)


def test_csv_trace(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("arrival,service\n2.0,0.5\n1.0,0.25\n# comment\n")
    assert load_trace(str(f)) == [(1.0, 0.25), (2.0, 0.5)]
    f.write_text("1.0,0.5\nx,y\n")
    with pytest.raises(InvalidInput, match=r"t\.csv:2: expected arrival,service"):
        load_trace(str(f))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("builtin:square", "unknown shape"),
        ("builtin:step:peak=3", "unknown key"),
        ("builtin:step:high=x", "high must be a number"),
        ("builtin:step:duration=0", "must be > 0"),
    ],
)
def test_bad_builtin_traces(text: str, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        load_trace(text)


def test_start_models() -> None:
    import random

    rng = random.Random(0)
    assert parse_start_model("2.5").sample(rng) == 2.5
    assert 1.0 <= parse_start_model("uniform:1,3").sample(rng) <= 3.0
    assert parse_start_model("samples:4,5").sample(rng) in (4.0, 5.0)
    assert str(parse_start_model("fixed:2.5")) == "fixed:2.5"
    for bad in ("gamma:1", "uniform:3,1", "fixed:1,2", "fixed:x"):
        with pytest.raises(InvalidInput):
            parse_start_model(bad)


def test_requests_time_out_in_the_buffer_and_a_never_ready_revision_goes_to_zero() -> None:
    # Replicas never start (10,000 s); each buffered request gives up after 10 s (504). With no
    # ready replica the revision stays Activating and is scaled to zero after progress-deadline
    # 600 s + 30 s: the first tick after 630 s is 632 s.
    trace = [(float(i), 0.1) for i in range(5)]
    r = simulate(SMALL, trace, start_model=parse_start_model("fixed:10000"), timeout=10.0,
                 duration=700.0)  # fmt: skip
    assert (r.requests, r.served, r.timed_out) == (5, 0, 5)
    assert r.rows[15].queued == 0  # all gone by t=15
    assert next(row.time for row in r.rows if row.desired == 0) == 633  # row after the 632 tick
