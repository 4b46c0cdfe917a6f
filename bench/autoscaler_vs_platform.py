"""The simulator against the real platform: a step and a spike trace from zero, side by side.

    python bench/autoscaler_vs_platform.py [--runs 3] [--sims 30] [--start-delay 2.0]
                                           [--service 0.1] [--keep DIR] [--replay DIR]

Each real run starts ``minikn serve`` (process backend, fresh state) with one ISVC at zero
(``containerConcurrency: 2``, max 5 replicas) whose replica is the tiny server in this file: it
sleeps ``--start-delay`` before it listens (the TCP probe then finds it ready), answers each
request after ``--service`` seconds and logs each request's start and end. The trace's arrivals
are sent open-loop. From the serve log (its timestamped decision and readiness lines) and the
responses come: cold starts (requests sent before the first replica was ready), time to the
first scale above one replica, time to all ready (the peak ready count first reached), ready
replicas at the end of each 5-second bucket, and p50/p90/p99 latency. The same arrivals (as
sent) then go through ``minikn simulate``'s code (``--sims`` runs, 30 by default), given what the
run measured: each replica's start time from the decision that asked for it (the first request
for the start from zero), tagged with how many replicas were starting with it; each replica's
handover (ready to its first request, while requests waited); the revision's idle time before
the first request (from the platform's first stats report, if later than its creation); the
tick loop's 2-second grid and each tick's lateness after it (from the decision log); the fast
lane's overhead (how long a request held its replica slot beyond the service time, from 1 s
after the first replica was ready) and the buffered lane's (the same per request handed a slot
from the buffer while requests waited, the turnaround between requests included), both from
the replica's log. The stats reports and the clock's second follow from the tick grid
(``minikn.core.cadence``: each report 50 ms before a tick). The table shows the real figures
next to the simulator's min/median/max, and whether the goal holds (real inside the range;
simulator median within 10 % of the real median for cold starts and p99, within one tick for
the times).
``--keep DIR`` keeps each real run's logs; ``--replay DIR`` simulates against kept runs again.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import http.server
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minikn.autoscaler.spec import build_spec  # noqa: E402
from minikn.cli.commands.simulate import load_revision  # noqa: E402
from minikn.config.loader import load_settings  # noqa: E402
from minikn.sim.cli import run_many  # noqa: E402
from minikn.sim.simulate import SimResult  # noqa: E402
from minikn.sim.traces import StartModel, parse_start_model  # noqa: E402

TICK = 2.0
_CONFIG = "config-autoscaler:\n  allow-zero-initial-scale: true\n"
NAME = "simbench"


def replica(port: int, start_delay: float, service: float, log: Path | None) -> None:
    """The replica: slow to start, fixed service time, threads so it serves in parallel; with
    ``log``, each request's (start, end) wall times are appended there."""
    time.sleep(start_delay)
    out = log.open("a", buffering=1) if log is not None else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as model servers set it: http.server writes the head and the body in two
        # sends, and with Nagle on, the body waits for the head's ACK, which the platform's
        # side delays by up to 40 ms on a connection in use (Linux's delayed ACK): 40 ms more
        # per request handed a slot from the buffer, and none for one on a fresh connection.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            began = time.time()
            time.sleep(service)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            if out is not None:
                out.write(f"{port} {began:.6f} {time.time():.6f}\n")

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        # http.server's default accept queue is 5; real model servers listen with 100 and more.
        # With 5, runs on the loaded 2-core machine had 0.9-1.3 s handovers and ~3 s stalls
        # (TCP's 1 s and 2 s retransmit times: a full queue drops the handshake's last packet);
        # with 128, ten runs had neither.
        request_queue_size = 128

    Server(("127.0.0.1", port), Handler).serve_forever()


def isvc_yaml(start_delay: float, service: float, log: Path | None = None) -> str:
    extra = f", --replica-log={log}" if log is not None else ""
    return f"""\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {NAME}
  annotations:
    autoscaling.knative.dev/initial-scale: "0"
spec:
  predictor:
    minReplicas: 0
    maxReplicas: 5
    containerConcurrency: 2
    containers:
      - name: kserve-container
        image: bench
        command: [python, {Path(__file__).resolve()}, --replica]
        args: [--http_port=8080, --start-delay={start_delay}, --service={service}{extra}]
"""


def trace_of(kind: str, service: float) -> list[tuple[float, float]]:
    """Evenly spaced arrivals. step: 16 req/s for 30 s. spike: 2 req/s for 30 s, 30 req/s in
    [10, 15)."""
    out: list[tuple[float, float]] = []
    t = 0.0
    while t < 30.0:
        out.append((t, service))
        rate = 16.0 if kind == "step" else (30.0 if 10.0 <= t < 15.0 else 2.0)
        t = round(t + 1.0 / rate, 6)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token_file: Path) -> int:
    """GET with the API's bearer token (written to the state dir when serve starts)."""
    try:
        token = token_file.read_text().strip()
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except Exception:
        return 0


async def _send(port: int, host: str, at: float) -> tuple[float, float, int]:
    """One request at ``at`` (perf_counter); (wall time sent, latency, status)."""
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    sent, t0 = time.time(), time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        status = int(data.split(b" ", 2)[1]) if data else 0
    except OSError:
        status = 0
    return sent, time.perf_counter() - t0, status


_LINE = re.compile(r"^(\S+ \S+) \w+ (\S+): (.*)$")


def _events(log: str) -> list[tuple[float, str]]:
    out = []
    for line in log.splitlines():
        m = _LINE.match(line)
        if m:
            when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((when, m.group(3)))
    return out


def real_run(kind: str, args: argparse.Namespace) -> tuple[dict[str, object], str]:
    """One real run; (figures, start model text of its measured start times)."""
    trace = trace_of(kind, args.service)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "isvcs").mkdir()
        (d / "isvcs" / "isvc.yaml").write_text(
            isvc_yaml(args.start_delay, args.service, d / "replicas.log")
        )
        (d / "minikn.yaml").write_text(_CONFIG)
        ingress, api = _free_port(), _free_port()
        logf = (d / "serve.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "minikn.cli.main", "serve", f"--port={ingress}",
             f"--api-port={api}", "--host=127.0.0.1", "--backend=process",
             f"--watch={d / 'isvcs'}", f"--state-dir={d / 'state'}",
             f"--config={d / 'minikn.yaml'}"],
            cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "MINIKN_API_TOKEN"},
        )  # fmt: skip
        try:
            isvc = f"http://127.0.0.1:{api}/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/{NAME}"
            deadline = time.monotonic() + 60
            while _get(isvc, d / "state" / "api-token") != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("minikn serve did not start")
                time.sleep(0.2)
            time.sleep(3.0)  # the revision settles at zero; the platform's loops run on
            host = f"{NAME}.default.example.com"
            base = time.perf_counter() + 0.2

            async def send_all() -> list[tuple[float, float, int]]:
                return await asyncio.gather(*(_send(ingress, host, base + a) for a, _ in trace))

            results = asyncio.run(send_all())
            time.sleep(1.0)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            logf.close()
        log = (d / "serve.log").read_text(errors="replace")
        served = d / "replicas.log"
        replicas = served.read_text() if served.exists() else ""
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        stem = args.keep / f"{kind}-{time.strftime('%H%M%S')}"
        stem.with_suffix(".log").write_text(log)
        stem.with_suffix(".replicas").write_text(replicas)
        stem.with_suffix(".requests").write_text(
            "".join(f"{s:.6f} {lat:.6f} {st}\n" for s, lat, st in results)
        )
    return figures_of(results, _events(log), trace, replicas), ""


def replayed_runs(kind: str, keep: Path, service: float) -> list[dict[str, object]]:
    """The figures of the real runs kept in ``keep`` (``--keep``) for ``kind``, oldest first."""
    out = []
    for log in sorted(keep.glob(f"{kind}-*.log")):
        lines = log.with_suffix(".requests").read_text().split("\n")
        results = [(float(a), float(b), int(c)) for a, b, c in (x.split() for x in lines if x)]
        served = log.with_suffix(".replicas")
        replicas = served.read_text() if served.exists() else ""
        out.append(figures_of(results, _events(log.read_text()), trace_of(kind, service), replicas))
    return out


def figures_of(
    results: list[tuple[float, float, int]], events: list[tuple[float, str]],
    trace: list[tuple[float, float]], replicas: str = "",
) -> dict[str, object]:  # fmt: skip
    first = results[0][0] - trace[0][0]
    readies: list[tuple[float, float]] = []  # (ready time, took)
    stops: list[float] = []
    asks: list[float] = []  # when the replica manager was asked for more replicas
    scale_up = None
    for when, msg in events:
        m = re.search(r"replica \S+ ready in ([0-9.]+)s", msg)
        if m:
            readies.append((when - first, float(m.group(1))))
        if "stopping replica" in msg:
            stops.append(when - first)
        m = re.search(r"desired replicas (\S+) -> (\d+)", msg)
        if m and int(m.group(2)) > (0 if m.group(1) == "None" else int(m.group(1))):
            # From zero the simulator decides at the first request (its poke), not when the
            # platform's poke reached the replica manager.
            asks.append(0.0 if m.group(1) in ("0", "None") else when - first)
        if m and int(m.group(2)) > 1 and scale_up is None:
            scale_up = when - first
    first_ready = min((r for r, _ in readies), default=float("inf"))
    changes = sorted([(r, 1) for r, _ in readies] + [(s, -1) for s in stops])
    ready, peak, all_ready = 0, 0, None
    for when, delta in changes:
        ready += delta
        if ready > peak:
            peak, all_ready = ready, when
    buckets = []
    for end in range(5, 35, 5):
        buckets.append(sum(delta for when, delta in changes if when <= end))
    created = next((when - first for when, msg in events if re.search(r": created, \d+ repl", msg)),
                   0.0)  # fmt: skip
    # The revision's windows hold the zero reports made since it was created: the first report
    # of the platform comes up to 1.95 s after it started (its loops' grid, minikn.core.cadence).
    reporting = next(
        (when - first + float(m.group(1)) for when, msg in events
         if (m := re.search(r"stats reported every \S+ s from \+([\d.]+) s", msg))),
        created,
    )  # fmt: skip
    created = min(0.0, max(created, reporting - 0.001))
    decided = [
        (when - first, bool(re.search(r"replicas 0 -> [1-9]", msg)))
        for when, msg in events
        if re.search(r"desired \d+, replicas", msg)
    ]
    # The first decision is a tick (-1 -> 0); the poke (the first scale from zero once requests
    # come) is not.
    poke = next((t for t, from_zero in decided if from_zero and t >= -0.5), None)
    tick_phase, lateness = tick_schedule([t for t, _ in decided if t != poke])
    service = trace[0][1]
    # The fast lane's overhead while the platform carries the trace's load (in a spike too, not
    # only in the quiet tail once all are ready): how long a request held its replica slot beyond
    # its service time, from 1 s after the first replica was ready. The activator holds it while
    # the replica serves it (the replica's log: its start to its end) and a fraction of a ms to
    # pass it on; the client's own time (a connection per request, the router) holds no slot and
    # is not concurrency, so its latency would overstate it (by ~1 % of the spike's panic
    # average, enough to tip a decision).
    overheads = [
        max(0.0, end - began - service)
        for spans in replica_spans(replicas).values()
        for began, end in spans
        if began - first >= first_ready + 1.0
    ]
    # The backlog lasts until the last request that waited (0.25 s over its service) is answered.
    backlog = max((s + lat for s, lat, _ in results if lat > service + 0.25), default=0.0)
    # Each start time from the decision that asked for the replica (the simulator starts its
    # replica then): the replica manager's reconcile pass and the task that starts the replica
    # come a few ms later on a busy loop, which ``took`` does not count. A start counts the
    # replicas starting with it: its own decision's and the earlier ones' not yet ready.
    spans = [(_asked(asks, r - took), r) for r, took in readies]
    samples = [
        f"{r - a:.3f}@{sum(1 for a2, b2 in spans if a2 - 0.005 <= a <= b2)}" for a, r in spans
    ]
    lat = sorted(x[1] for x in results)
    return {
        "cold starts": float(sum(1 for s, _, _ in results if s - first < first_ready)),
        "first scale-up (s)": -1.0 if scale_up is None else scale_up,
        "all ready (s)": -1.0 if all_ready is None else all_ready,
        "latency p50 (s)": _pct(lat, 50),
        "latency p90 (s)": _pct(lat, 90),
        "latency p99 (s)": _pct(lat, 99),
        "buckets": buckets,
        "samples": "samples:" + ",".join(samples) if samples else "fixed:2",
        "idle": -created,
        "tick phase": tick_phase,
        "tick lateness": lateness,
        "handovers": handovers(replicas, [r + first for r, _ in readies], [x[0] for x in results]),
        "overheads": overheads or [0.0],
        "buffered overheads": turnarounds(replicas, cc=2, until=backlog, service=service)
        or overheads
        or [0.0],
        "errors": sum(1 for x in results if x[2] != 200),
        "arrivals": [(s - first, service) for s, _, _ in results],
    }


def handovers(replicas: str, readies: list[float], sent: list[float]) -> list[str]:
    """Each replica's handover (``S@N``: seconds, how many replicas were ready with it, itself
    included), from the replicas' (port, start, end) lines, the ready times (serve log) and the
    requests' send times, all wall clock: from a replica's ready time to the start of its first
    request, for one that became ready while requests waited (at least two sent and not started
    by then: one may be on its way to a slot just freed elsewhere). The replicas are matched to
    the ready times in order: each takes the port whose first request is the earliest one after
    its ready time among the ports not matched yet."""
    firsts: dict[str, float] = {}
    starts: list[float] = []
    for line in replicas.splitlines():
        port, began, _ = line.split()
        starts.append(float(began))
        firsts[port] = min(float(began), firsts.get(port, float("inf")))
    starts.sort()
    sent = sorted(sent)
    free = sorted(firsts.values())
    out = []
    for n, ready in enumerate(sorted(readies), start=1):
        after = [f for f in free if f >= ready - 0.001]  # the log's ms
        if not after:
            continue
        free.remove(after[0])
        if bisect.bisect(sent, ready) - bisect.bisect(starts, ready) >= 2:
            out.append(f"{max(0.0, after[0] - ready):.3f}@{n}")
    return out


def _asked(asks: list[float], start: float) -> float:
    """The latest decision for more replicas at or before ``start`` (the log's ms: 1 ms slack)."""
    return max((a for a in asks if a <= start + 0.001), default=start)


def tick_schedule(ticks: list[float]) -> tuple[float, list[float]]:
    """The tick loop's schedule from the times of its logged decisions (the first one a tick):
    its phase in (0, 2] and how late each tick ran after it. The loop keeps a 2-second grid and
    runs each tick when its busy event loop gets to it, so the grid is the earliest of them;
    a decision more than 0.25 s off the grid is not a tick (a KPA timer)."""
    if not ticks:
        return TICK, [0.0]
    base = ticks[0]
    off = [(t - base + 1.0) % TICK - 1.0 for t in ticks]
    on = [o for o in off if abs(o) < 0.25]
    early = min(on)
    return ((base + early) % TICK or TICK), [o - early for o in on]


def replica_spans(replicas: str) -> dict[str, list[tuple[float, float]]]:
    """The replicas' log lines ``port start end`` (wall times) as spans per replica."""
    by: dict[str, list[tuple[float, float]]] = {}
    for line in replicas.splitlines():
        port, began, ended = line.split()
        by.setdefault(port, []).append((float(began), float(ended)))
    return by


def turnarounds(replicas: str, *, cc: int, until: float, service: float) -> list[float]:
    """From the replicas' (port, start, end) lines: how long a slot was held beyond ``service``
    per request handed to it from the buffer (starts before ``until``, the end of the backlog;
    a slot that sat free over 0.5 s does not count): from the previous request's end on that
    slot to this one's end, less ``service``. That is the activator's buffered-lane overhead
    (the turnaround between the two) plus what the replica itself took beyond ``service`` (its
    sleep and its handler run late on a busy machine). Each start takes the latest unmatched
    end before it on that replica (the slot just freed)."""
    out = []
    for spans in replica_spans(replicas).values():
        spans.sort()
        ends: list[float] = []
        for i, (began, _) in enumerate(spans):
            ends = sorted(e for e in ends if e > began - 0.5)  # older ones: an idle slot
            freed = [e for e in ends if e <= began]
            if freed and i >= cc and began <= until:
                out.append(spans[i][1] - freed[-1] - service)
                ends.remove(freed[-1])
            ends.append(spans[i][1])
    return out


def _pct(ordered: list[float], q: float) -> float:
    import math

    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else 0.0


def sim_figures(res: SimResult) -> dict[str, object]:
    f: dict[str, object] = {"cold starts": float(res.cold_starts), **res.figures()}
    f["buckets"] = [next(r.ready for r in res.rows if r.time == end) for end in range(5, 35, 5)]
    return f


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--replica", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--http_port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--grpc_port", type=int, default=0, help=argparse.SUPPRESS)  # unused
    p.add_argument("--replica-log", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--start-delay", type=float, default=2.0)
    p.add_argument("--service", type=float, default=0.1)
    p.add_argument("--traces", default="step,spike")
    p.add_argument("--sims", type=int, default=30, help="simulator runs per real run")
    p.add_argument("--keep", type=Path, help="keep each real run's serve log and responses here")
    p.add_argument("--replay", type=Path, help="simulate against the real runs kept here instead")
    args = p.parse_args()
    if args.replica:
        replica(args.http_port, args.start_delay, args.service, args.replica_log)
        return
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "isvc.yaml"
        f.write_text(isvc_yaml(args.start_delay, args.service))
        cfg = Path(tmp) / "minikn.yaml"
        cfg.write_text(_CONFIG)
        settings = load_settings(cfg)
        name, ann, cc, _, _ = load_revision(f, settings, "predictor")
    spec = build_spec(name, ann, container_concurrency=cc, config=settings.autoscaler,
                      progress_deadline=settings.deployment.progress_deadline)  # fmt: skip
    keys = ["cold starts", "first scale-up (s)", "all ready (s)", "latency p50 (s)",
            "latency p90 (s)", "latency p99 (s)"]  # fmt: skip
    for kind in args.traces.split(","):
        trace = trace_of(kind, args.service)
        reals, sims = [], []
        replayed = replayed_runs(kind, args.replay, args.service) if args.replay else []
        for run in range(len(replayed) if args.replay else args.runs):
            real = replayed[run] if args.replay else real_run(kind, args)[0]
            model = parse_start_model(str(real["samples"]))
            overhead = StartModel("samples", tuple(real["overheads"]))  # type: ignore[arg-type]
            buffered = StartModel("samples", tuple(real["buffered overheads"]))  # type: ignore[arg-type]
            arrivals: list[tuple[float, float]] = real["arrivals"]  # type: ignore[assignment]
            # The arrivals as sent (a busy sender is late now and then), this run's start times,
            # idle time, tick phase (the report's and the clock's follow: minikn.core.cadence) and
            # overheads.
            sim = run_many(spec, arrivals, start_model=model, seed=run, runs=args.sims,
                           duration=40.0, idle=float(real["idle"]),  # type: ignore[arg-type]
                           overhead=overhead, buffered_overhead=buffered,
                           tick_phase=float(real["tick phase"]),  # type: ignore[arg-type]
                           tick_lateness=StartModel("samples", tuple(real["tick lateness"])),  # type: ignore[arg-type]
                           handover=parse_start_model("samples:" + ",".join(real["handovers"]))  # type: ignore[arg-type]
                           if real["handovers"] else None)  # fmt: skip
            if args.keep is not None and not args.replay:
                (args.keep / f"{kind}-run{run + 1}.sim").write_text(
                    "\n".join(str(d) for r in sim for d in [r.first_scale_up, *r.decisions[:6]])
                )
            reals.append(real)
            sims.extend(sim_figures(s) for s in sim)
            shown = {k: v for k, v in real.items()
                     if k not in ("overheads", "arrivals", "buffered overheads",
                                  "tick lateness")}  # fmt: skip
            late = sorted(real["tick lateness"])  # type: ignore[type-var]
            ov = sorted(real["overheads"])  # type: ignore[type-var]
            bo = sorted(real["buffered overheads"])  # type: ignore[type-var]
            print(f"{kind} run {run + 1}: real {shown}, overhead p50 {ov[len(ov) // 2]:.4f} s "
                  f"({len(ov)} warm requests), buffered {bo[len(bo) // 2]:.4f} s "
                  f"({len(bo)}), tick lateness {late[0]:.3f}-{late[-1]:.3f} s "
                  f"({len(late)} ticks)")  # fmt: skip
        print(f"\n### {kind} ({len(trace)} requests, {len(reals)} real runs, "
              f"{len(sims)} simulated)\n")  # fmt: skip
        print("| figure | real runs | real median | sim min / median / max | goal |")
        print("|---|---|---|---|---|")
        for key in keys:
            rv = [float(r[key]) for r in reals]  # type: ignore[arg-type]
            sv = [float(s[key]) for s in sims]  # type: ignore[arg-type]
            rmed, smed = statistics.median(rv), statistics.median(sv)
            # Within 0.01 s (the table's precision: the serve log's times are in ms, and a real
            # replica is created a few ms after its tick, which its start time does not count).
            inside = all(min(sv) - 0.01 <= x <= max(sv) + 0.01 for x in rv)
            if key.startswith(("first", "all")):
                close = abs(smed - rmed) <= TICK
            elif key in ("cold starts", "latency p99 (s)"):
                close = abs(smed - rmed) <= 0.1 * rmed
            else:
                close = True
            verdict = f"{'inside' if inside else 'OUTSIDE'}, {'close' if close else 'FAR'}"
            print(f"| {key} | {', '.join(f'{x:.2f}' for x in rv)} | {rmed:.2f} | "
                  f"{min(sv):.2f} / {smed:.2f} / {max(sv):.2f} | {verdict} |")  # fmt: skip
        per = list(zip(*(s["buckets"] for s in sims), strict=True))  # type: ignore[call-overload]
        ranges = ", ".join(f"{min(b)}" if min(b) == max(b) else f"{min(b)}-{max(b)}" for b in per)
        within = all(min(b) <= x <= max(b) for r in reals
                     for x, b in zip(r["buckets"], per, strict=True))  # type: ignore[call-overload]  # fmt: skip
        print("| ready per 5 s | " + "; ".join(str(r["buckets"]) for r in reals) + " | | ["
              + ranges + "] | " + ("inside" if within else "OUTSIDE") + " |")  # fmt: skip


if __name__ == "__main__":
    main()
