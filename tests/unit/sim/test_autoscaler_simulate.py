"""The simulator: deterministic, event-driven, through the same engine as the live loop."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

import pytest

from minikn.autoscaler.spec import build_spec
from minikn.config.autoscaler import AutoscalerConfig
from minikn.core.cadence import REPORT_LEAD
from minikn.core.errors import InvalidInput
from minikn.sim.simulate import SimDecision, SimRow, SimTiming, idle_reports, simulate
from minikn.sim.traces import builtin_trace, load_trace, parse_start_model

CFG = AutoscalerConfig()
SMALL = build_spec(
    "r-1", {"autoscaling.knative.dev/target": "2"}, container_concurrency=2, config=CFG
)
"""CC 2, target 2 -> 1.4 per replica."""
TRACE = [(i / 4, 1.0) for i in range(40)]
"""10 s of 4 requests/s, 1 s each (concurrency ~4), then silence."""


def test_golden_summary_of_a_small_trace() -> None:
    # Hand-checked start: the revision idled long, so the activator's zero reports fill its
    # windows. The first request (t=0) pokes; the poke's sample (1) over the 6 s panic window
    # gives desired 1 (one replica, ready at t=3); 12 requests arrive before then (cold starts).
    # The t=2 tick sees buckets 0, 0, 0, 1, 2.5, 6.5 = 1.667 -> ceil(1.667/1.4) = 2 and
    # 2 / R(1) >= 2 -> panic (row t=2: desired 2). The rest is a golden (regression) record: panic
    # grows to 12 replicas, ends a stable window after the last over-threshold tick, then the
    # revision goes to zero; the run stops when it is idle.
    r = simulate(SMALL, TRACE, start_model=parse_start_model("fixed:3"))
    assert r.summary() == {
        "requests": "40",
        "served": "40",
        "timed out in the buffer (504)": "0",
        "cold starts (requests that found no ready replica)": "12",
        "replica starts": "12",
        "queue wait p50 (s)": "2.250",
        "queue wait p99 (s)": "4.000",
        "replica-seconds": "798.0",
        "max replicas": "12",
        "time in panic (s)": "68",
        "simulated seconds": "109",
    }
    assert r.rows[:2] == [SimRow(1, 2.5, 1, 0, 4, False), SimRow(2, 6.5, 2, 0, 8, True)]
    assert r.rows[-1] == SimRow(109, 0.0, 0, 0, 0, False)
    assert r.decisions[:3] == [
        SimDecision(0.0, 1, 1, 0.016666, 0.166666, 0, False),
        SimDecision(2.0, 2, 2, 0.166666, 1.666666, 0, True),
        SimDecision(4.0, 5, 5, 0.583333, 5.833333, 1, True),
    ]


@pytest.mark.parametrize(
    ("idle", "first"),
    [
        # Long idle: the zero reports fill the panic window; the t=2 tick reads (1 + 2.5 + 6.5)/6.
        (None, SimDecision(2.0, 2, 2, 0.166666, 1.666666, 0, True)),
        # Idle 1.5 s: zero reports at t=-1 and t=0 before the trace; a 4 s partial window, 10/4.
        (1.5, SimDecision(2.0, 2, 2, 2.5, 2.5, 0, True)),
        # Idle 0.5 s: one zero report, at t=0 (the poke's bucket); a 3 s partial window, 10/3.
        (0.5, SimDecision(2.0, 3, 3, 3.333333, 3.333333, 0, True)),
        # Created at t0 at zero: no report before the trace, the same 3 s partial window.
        (0.0, SimDecision(2.0, 3, 3, 3.333333, 3.333333, 0, True)),
    ],
)
def test_the_idle_revisions_zero_reports_dilute_the_first_demand(
    idle: float | None, first: SimDecision
) -> None:
    r = simulate(SMALL, TRACE, start_model=parse_start_model("fixed:3"), idle=idle)
    assert r.decisions[1] == first


def test_idle_reports_are_the_activators_seconds_before_t0() -> None:
    assert idle_reports(SMALL, 10.0, 0.25, 2.5) == [8.25, 9.25]
    assert idle_reports(SMALL, 0.0, 1.0, 0.0) == []
    assert idle_reports(SMALL, 0.0, 1.0, 1.0) == [0.0]  # created at t0 - 1: nothing then
    assert idle_reports(SMALL, 0.0, 1.0, 1.5) == [-1.0, 0.0]
    long = idle_reports(SMALL, 0.0, 1.0, None)
    assert (len(long), long[0], long[-1]) == (61, -60.0, 0.0)  # the stable window and one more
    assert idle_reports(SMALL, 0.0, 1.0, 1e12) == long


@pytest.mark.parametrize(
    ("start", "cold_starts", "replica_starts"),
    [
        # At rest at zero: the first request (t=30) pokes, its replica is ready at 33; the 12
        # requests of [30, 33) find none.
        ("rest", 12, 12),
        # Freshly created: the initial replica started at 0 is ready long before t=30.
        ("created", 0, 10),
    ],
)
def test_an_idle_lead_in_is_a_cold_start_only_from_rest(
    start: Literal["rest", "created"], cold_starts: int, replica_starts: int
) -> None:
    late = [(30 + a, s) for a, s in TRACE]
    r = simulate(SMALL, late, start_model=parse_start_model("fixed:3"), start=start)
    assert (r.cold_starts, r.replica_starts) == (cold_starts, replica_starts)


@pytest.mark.parametrize(
    ("timing", "first_scale_up", "all_ready", "p50"),
    [
        # Ideal: ticks at 2, 4, ...: the t=2 tick panics (2 replicas), the 12th is ready at 11.
        (SimTiming(), 2.0, 11.0, 3.25),
        # The first tick at 0.5 s sees only the poke's sample (1 replica); the next, at 2.5,
        # scales up, and the last scale-up comes a tick later (at 10.5, ready at 13.5).
        (SimTiming(tick_phase=0.5), 2.5, 13.5, 3.5),
        # Stats reported at 0.25, 1.25, ...: the t=2 tick has the buckets up to 1 only (the poke's
        # 1 + 0.25, then 3.5) over 5 valid seconds: 0.95 -> 1 replica; the scale-up waits for t=4.
        (SimTiming(report_phase=0.25), 4.0, 13.0, 4.0),
        # Stats at 0.75, 1.75, ...: the t=2 tick reads (1 + 1.5, then 5.5) over 5 s = 1.6 ->
        # ceil(1.6/1.4) = 2 replicas, panic.
        (SimTiming(report_phase=0.75), 2.0, 11.0, 3.25),
        # The same, but the clock shows .5 at t0 (the buckets turn at 0.5, 1.5, ... after t0):
        # the first report (1.25 on that clock) opens a bucket of its own, the second (2.25) is in
        # the tick's (2.5) second: 1, 1.5, 5.5 over 6 s = 1.333 -> 1 replica; scale-up at t=4.
        (SimTiming(report_phase=0.75, clock_phase=0.5), 4.0, 13.0, 4.0),
    ],
)
def test_the_tick_report_and_clock_phases_move_the_first_scale_up(
    timing: SimTiming, first_scale_up: float, all_ready: float, p50: float
) -> None:
    r = simulate(SMALL, TRACE, start_model=parse_start_model("fixed:3"), timing=timing)
    assert (r.first_scale_up, r.all_ready, r.percentile(50, r.latencies)) == (
        first_scale_up, all_ready, p50,
    )  # fmt: skip


def test_a_late_tick_delays_its_decision_and_the_replicas_it_asks_for() -> None:
    fixed = parse_start_model("fixed:3")
    on_time = simulate(SMALL, TRACE, start_model=fixed)
    late = simulate(SMALL, TRACE, start_model=fixed, tick_lateness=parse_start_model("0.25"))
    # The report at t=2 is in before either tick: the same decisions, 0.25 s later each, and
    # the replicas they asked for ready 0.25 s later (the poke at t=0 is no tick: on time).
    assert [d.time for d in on_time.decisions[:4]] == [0.0, 2.0, 4.0, 6.0]
    assert [d.time for d in late.decisions[:4]] == [0.0, 2.25, 4.25, 6.25]  # no drift
    assert [d.desired for d in late.decisions[:4]] == [d.desired for d in on_time.decisions[:4]]
    assert (late.first_scale_up, late.all_ready) == (2.25, 11.25)
    assert (on_time.first_scale_up, on_time.all_ready) == (2.0, 11.0)
    # Drawn lateness: seeded, each tick on the schedule or 0.5 s after it.
    drawn = parse_start_model("samples:0,0.5")
    spread = parse_start_model("samples:2,4")
    runs = [
        simulate(SMALL, TRACE, start_model=spread, seed=s, tick_lateness=drawn) for s in (1, 1, 2)
    ]
    assert runs[0].decisions == runs[1].decisions
    late_by = {round(d.time % 2, 6) for r in runs for d in r.decisions[1:]}
    assert late_by == {0.0, 0.5}
    # It has its own RNG: drawing it (here always 0) leaves the start-time draws as they were.
    zero = parse_start_model("samples:0,0")
    assert simulate(SMALL, TRACE, start_model=spread, seed=1, tick_lateness=zero).summary() == (
        simulate(SMALL, TRACE, start_model=spread, seed=1).summary()
    )


def test_a_ready_replica_takes_requests_after_its_handover() -> None:
    # Freshly created: one replica (CC 2) ready at t=3; three requests of 0.25 s at t=3.
    trace = [(3.0, 0.25)] * 3
    fixed = parse_start_model("fixed:3")
    plain = simulate(SMALL, trace, start_model=fixed, start="created", duration=10.0)
    assert plain.waits == [0.0, 0.0, 0.25]
    # A 0.5 s handover: ready (counted) at 3, the first request taken at 3.5.
    late = simulate(SMALL, trace, start_model=fixed, start="created", duration=10.0,
                    handover=parse_start_model("fixed:0.5"))  # fmt: skip
    assert late.waits == [0.5, 0.5, 0.75]
    assert [(row.time, row.ready) for row in late.rows[1:3]] == [(2, 0), (3, 1)]
    assert late.all_ready == 3.0
    assert late.cold_starts == plain.cold_starts == 0  # ready at 3: no cold start
    # Tagged by how many are ready with it: the first replica's handover is the 1 s one.
    tagged = parse_start_model("samples:1@1,0@2")
    first = simulate(SMALL, trace, start_model=fixed, start="created", duration=10.0,
                     handover=tagged)  # fmt: skip
    assert first.waits == [1.0, 1.0, 1.25]


def test_a_replica_stopped_during_its_handover_never_takes_a_request() -> None:
    # A long handover: the scale-down at the end of the trace stops replicas still handing over
    # (they leave before the ready ones), and nothing is served by a stopped replica.
    fixed = parse_start_model("fixed:3")
    r = simulate(SMALL, TRACE, start_model=fixed, handover=parse_start_model("samples:0@1,100@2"))
    # Only the first replica serves: 40 requests of 1 s, two at a time from t=3; request i
    # (arrived at i/4) starts at 3 + i//2, so the 39th (9.5) waits longest: 12.5 s. With every
    # replica serving, far less.
    assert (r.served, max(r.waits)) == (len(TRACE), 12.5)
    assert max(simulate(SMALL, TRACE, start_model=fixed).waits) < 6
    # Scaled to zero in the end: those still handing over left first, then the ready one.
    assert r.max_replicas > 1
    assert (r.rows[-1].ready, r.rows[-1].desired) == (0, 0)


def test_a_request_overhead_adds_to_the_latency_and_holds_the_slot() -> None:
    # Freshly created: one replica (CC 2) ready at t=3. Three requests at t=10 of 0.25 s each,
    # plus 0.125 s of overhead: two start at once, the third waits for a slot (0.375 s).
    trace = [(10.0, 0.25)] * 3
    fixed = parse_start_model("fixed:3")
    r = simulate(SMALL, trace, start_model=fixed, start="created", duration=20.0,
                 overhead=parse_start_model("fixed:0.125"))  # fmt: skip
    assert (r.latencies, r.waits) == ([0.375, 0.375, 0.75], [0.0, 0.0, 0.375])
    plain = simulate(SMALL, trace, start_model=fixed, start="created", duration=20.0)
    assert plain.latencies == [0.25, 0.25, 0.5]
    # A request handed its slot from the buffer takes the buffered lane's overhead instead.
    lanes = simulate(SMALL, trace, start_model=fixed, start="created", duration=20.0,
                     overhead=parse_start_model("fixed:0.125"),
                     buffered_overhead=parse_start_model("fixed:0.5"))  # fmt: skip
    assert lanes.latencies == [0.375, 0.375, 1.125]
    # Drawn overheads come from their own seeded RNG: the same seed, the same draws.
    drawn = [
        simulate(
            SMALL,
            trace,
            start_model=fixed,
            start="created",
            duration=20.0,
            seed=s,
            overhead=parse_start_model("samples:0.0625,0.5"),
        ).latencies
        for s in (1, 1, 2, 3, 4)
    ]
    assert drawn[0] == drawn[1]
    assert len({tuple(x) for x in drawn}) > 1


def test_drawn_timings_put_the_platform_grid_at_a_random_phase() -> None:
    import random

    rng = random.Random(5)
    draws = [SimTiming.draw(rng) for _ in range(200)]
    assert all(0 < d.tick_phase <= 2 and 0 < d.report_phase <= 1 for d in draws)
    assert min(d.tick_phase for d in draws) < 0.1
    assert max(d.tick_phase for d in draws) > 1.9
    for d in draws:
        # Ticks on the clock's whole second; each report 50 ms before a tick, one between.
        on_second = (d.tick_phase + d.clock_phase) % 1.0
        assert min(on_second, 1.0 - on_second) == pytest.approx(0.0, abs=1e-9)
        assert (d.tick_phase - d.report_phase) % 1.0 == pytest.approx(REPORT_LEAD)
    # A report at another phase (as in Knative): each report a fixed lag after (or before) a tick.
    for tick, lag, report in [(0.6, 0.05, 0.65), (1.95, 0.05, 1.0), (0.05, -0.1, 0.95)]:
        d = SimTiming.draw(rng, tick_phase=tick, report_lag=(lag, lag))
        assert (d.tick_phase, d.report_phase) == pytest.approx((tick, report))


def test_replicas_started_together_take_longer() -> None:
    import random

    rng = random.Random(0)
    m = parse_start_model("fixed:2+together:0.1")
    assert [m.sample(rng, together=n) for n in (1, 4)] == pytest.approx([2.0, 2.3])
    measured = parse_start_model("samples:2.3@1,2.6@4,2.7@4")
    assert measured.sample(rng, together=1) == 2.3
    assert {measured.sample(rng, together=3) for _ in range(20)} == {2.6, 2.7}  # nearest: 4
    assert str(measured) == "samples:2.3@1,2.6@4,2.7@4"
    assert str(m) == "fixed:2+together:0.1"
    for bad in ("fixed:2+speed:1", "fixed:2@3", "samples:2@0", "samples:2@1,3"):
        with pytest.raises(InvalidInput):
            parse_start_model(bad)


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


def test_a_steady_step_follows_the_derived_schedule() -> None:
    # 40 requests/s of exactly 0.5 s each for 150 s holds 20 requests in the system; target 7
    # (CC 10 x 0.7) -> ceil(20/7) = 3 replicas once panic is over. The cold start (1 s) queues
    # requests, read over the 6 s panic window of the idle revision's zero reports: 12.83 at t=2
    # (ceil(12.83/7) = 2 over 1 ready: panic), 40.5 at t=4 (6 over 2 ready), 67.17 at t=6 (10),
    # held for the 60 s stable window after the last over-threshold tick (t=4 -> rows 2..65):
    # 10 -> 5 -> 3. After the trace, scale-down delay 0: 3 -> 2 -> 1 as the stable window
    # drains, then zero.
    spec = build_spec("r-1", {}, container_concurrency=10, config=CFG)
    trace = [(i / 40, 0.5) for i in range(40 * 150)]
    r = simulate(spec, trace, start_model=parse_start_model("fixed:1"))
    runs = [(k, len(list(g))) for k, g in itertools.groupby((x.desired, x.panic) for x in r.rows)]
    assert runs == [
        ((1, False), 1),
        ((2, True), 2),
        ((6, True), 2),
        ((10, True), 60),
        ((5, False), 2),
        ((3, False), 102),
        ((2, False), 20),
        ((1, False), 22),
        ((0, False), 38),
    ]
    assert [x.concurrency for x in r.rows[:6]] == pytest.approx(
        [20.5, 55.5, 75.5, 90.5, 90.5, 70.5]
    )
    assert [x.concurrency for x in r.rows[6:150]] == pytest.approx([20.0] * 144)
    assert (r.served, r.timed_out, r.max_replicas) == (6000, 0, 10)


@pytest.mark.parametrize("shape", ["constant", "step", "ramp", "spike", "diurnal"])
def test_builtin_shapes_are_sorted_and_within_duration(shape: str) -> None:
    trace = builtin_trace(f"{shape}:duration=60", seed=3)
    assert len(trace) > 60  # at least the low rate (5/s) over 60 s, less Poisson slack
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
    # The row of second 632 is written after that second's tick, so it shows the decision.
    assert next(row.time for row in r.rows if row.desired == 0) == 632
