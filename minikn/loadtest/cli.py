"""``minikn load``: argument parsing, target resolution and the run, wired together.

The CLI calls :func:`add_load_arguments` on its ``load`` sub-parser and :func:`load_command` with
the parsed arguments; the exit code is 0 on success, 1 when a threshold failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from minikn.apiserver.client import find_token
from minikn.core.clock import Clock, SystemClock
from minikn.core.errors import InvalidInput, MiniknError, NotFound
from minikn.core.terminal import console as stdout_console
from minikn.loadtest.api import PlatformClient, ReplicaPoller
from minikn.loadtest.coldstart import align_ready, analyze_cold_start
from minikn.loadtest.output import write_csv, write_plot, write_sweep_plot
from minikn.loadtest.report import print_report, print_sweep
from minikn.loadtest.runner import LoadPlan, LoadRunner
from minikn.loadtest.stats import RequestRecord, summarize
from minikn.loadtest.sweep import LevelSummary, parse_levels, summarize_level, write_sweep_csv
from minikn.loadtest.target import (
    EXAMPLE_INPUT_ANNOTATION,
    IsvcInfo,
    Target,
    example_body,
    find_isvc_yaml,
    isvc_from_doc,
    model_path,
    read_body,
    resolve_host,
)
from minikn.loadtest.thresholds import Thresholds, check_thresholds, parse_duration

__all__ = ["DESCRIPTION", "add_load_arguments", "load_command"]

DESCRIPTION = (
    "Send V1/V2 inference load (closed model with -c, open model with --rate) and report "
    "status codes, latency percentiles and what the cold start cost."
)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``minikn load``'s arguments to ``parser``."""
    env = os.environ.get
    parser.add_argument("target", help="an ISVC name, an ISVC YAML file, or a URL")
    g = parser.add_argument_group("load")
    g.add_argument("-c", "--concurrency", type=int, default=10, help="closed model: workers")
    g.add_argument("-n", "--requests", type=int, help="requests to send (default 200)")
    g.add_argument("-z", "--duration", type=_duration, help="send for this long (e.g. 30s)")
    g.add_argument("--rate", type=float, help="open model: requests per second (like vegeta)")
    g.add_argument(
        "--sweep",
        help="closed model at each concurrency level in turn (e.g. 1,2,4,8,16), each for -n "
        "requests or -z seconds; a row per level (--csv), throughput and latency by level (--plot)",
    )
    g.add_argument("--max-inflight", type=int, default=10_000, help="open model: in-flight cap")
    g.add_argument("--timeout", type=_duration, default=300.0, help="per request (default 300s)")
    r = parser.add_argument_group("request")
    r.add_argument("-d", "--data", type=Path, help="request body file (default: example input)")
    r.add_argument("--protocol", choices=("v1", "v2"), help="default: the ISVC's protocolVersion")
    r.add_argument("--content-type", default="application/json")
    r.add_argument("--host", help="Host header (default: <isvc>.<namespace>.<domain>)")
    r.add_argument("--namespace", default="default", help="the ISVC's namespace")
    r.add_argument("--component", default="predictor", help="whose replicas to follow")
    r.add_argument("--isvc", help="with a URL target: the ISVC whose replicas to follow")
    r.add_argument("--domain", default="example.com", help="ingress domain")
    r.add_argument("--examples-dir", type=Path, default=Path("config/examples"))
    r.add_argument("--revision-header", default="x-minikn-revision")
    p = parser.add_argument_group("platform")
    p.add_argument(
        "--ingress",
        default=env("MINIKN_INGRESS", "http://127.0.0.1:8080"),
        help="ingress URL (default $MINIKN_INGRESS or http://127.0.0.1:8080)",
    )
    p.add_argument(
        "--server",
        default=env("MINIKN_SERVER", "http://127.0.0.1:8081"),
        help="API URL, for the ISVC and its replica counts (default $MINIKN_SERVER or :8081)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="API bearer token (default $MINIKN_API_TOKEN or the one `minikn serve` wrote in "
        "$MINIKN_STATE_DIR or ~/.minikn)",
    )
    p.add_argument("--poll-interval", type=_duration, default=0.5, help="replica sampling")
    o = parser.add_argument_group("output")
    o.add_argument("--csv", type=Path, help="write one row per request (per level with --sweep)")
    o.add_argument(
        "--plot",
        type=Path,
        help="draw concurrency, replicas, latency (PNG); with --sweep, throughput and latency "
        "by level",
    )
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--max-error-rate", type=float, help="fail above this error fraction")
    o.add_argument("--p99-under", type=_duration, help="fail unless p99 is below (e.g. 2s)")


def load_command(args: argparse.Namespace) -> int:
    """Run ``minikn load``; the exit code for the shell."""
    try:
        return asyncio.run(run_load(args, clock=SystemClock()))
    except MiniknError as exc:
        print(f"minikn load: {exc.message}", file=sys.stderr)
        return 2


async def _resolve(args: argparse.Namespace, client: PlatformClient) -> Target:
    ns: str = args.namespace
    if args.target.startswith(("http://", "https://")):
        if args.data is None:
            raise InvalidInput("a URL target needs a request body: pass -d/--data FILE")
        info = IsvcInfo(args.isvc, ns, args.protocol or "v1") if args.isvc else None
        return Target(args.target, args.host, read_body(args.data), args.content_type, info)
    info = find_isvc_yaml(args.target, namespace=ns, examples_dir=args.examples_dir)
    name, ns = (info.name, info.namespace) if info is not None else (args.target, ns)
    api = isvc_from_doc(await client.get_isvc(ns, name), default_namespace=ns)
    found = info or api
    if found is None:
        raise NotFound(
            f"no InferenceService {ns}/{name}: not under {args.examples_dir} "
            f"and the API at {args.server} does not know it"
        )
    if info is not None and api is not None:
        found = replace(
            info,
            status_url=api.status_url,
            example_input=info.example_input or api.example_input,
        )
    info = found
    if args.protocol:
        info = replace(info, protocol=args.protocol)
    body = read_body(args.data) if args.data is not None else example_body(info)
    if body is None:
        raise InvalidInput(
            f"the ISVC {info.name} has no example input (annotation {EXAMPLE_INPUT_ANNOTATION} "
            "or an input file beside its YAML); pass -d/--data FILE"
        )
    url = args.ingress.rstrip("/") + model_path(info.name, info.protocol)
    host = args.host or resolve_host(info, args.domain)
    return Target(url, host, body, args.content_type, info)


def _plan(args: argparse.Namespace) -> LoadPlan:
    return LoadPlan(
        concurrency=args.concurrency,
        requests=args.requests,
        duration=args.duration,
        rate=args.rate,
        timeout=args.timeout,
        max_inflight=args.max_inflight,
        revision_header=args.revision_header,
    ).validate()


class _ProgressView:
    """The progress bar on stderr (only on a terminal): requests done, failures, time."""

    def __init__(self, plan: LoadPlan, clock: Clock, origin: float, *, show: bool) -> None:
        self._plan = plan
        self._clock = clock
        self._origin = origin
        self._done = 0
        self._failed = 0
        console = Console(stderr=True)
        self.enabled = show and console.is_terminal
        self._bar = Progress(
            TextColumn("[bold]minikn load"),
            BarColumn(),
            MofNCompleteColumn()
            if plan.requests is not None
            else TextColumn("{task.fields[sent]}"),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task(
            "load", total=plan.requests or plan.duration, sent=0, failed=0
        )

    def context(self) -> contextlib.AbstractContextManager[object]:
        return self._bar if self.enabled else contextlib.nullcontext()

    def record(self, record: RequestRecord) -> None:
        self._done += 1
        self._failed += not record.ok
        if self._plan.requests is not None:
            completed = float(self._done)
        else:
            completed = self._clock.monotonic() - self._origin
        self._bar.update(self._task, completed=completed, sent=self._done, failed=self._failed)


def _poller(
    args: argparse.Namespace, target: Target, client: PlatformClient, clock: Clock, origin: float
) -> ReplicaPoller | None:
    if target.isvc is None:
        return None
    return ReplicaPoller(
        client,
        namespace=target.isvc.namespace,
        name=target.isvc.name,
        component=args.component,
        clock=clock,
        origin=origin,
        interval=args.poll_interval,
    )


async def run_load(
    args: argparse.Namespace, *, clock: Clock, console: Console | None = None
) -> int:
    """The whole run; ``console`` receives the report (stdout by default)."""
    out = console or stdout_console()  # as wide as the other commands' when piped
    plan = _plan(args)
    levels = parse_levels(args.sweep) if args.sweep else ()
    if levels and args.rate is not None:
        raise InvalidInput("--sweep runs the closed model at each level: drop --rate")
    spans: list[tuple[float, float]] = []
    thresholds = Thresholds(max_error_rate=args.max_error_rate, p99_under=args.p99_under)
    # One connector for every worker and the API poller: pooled keep-alive connections.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = PlatformClient(session, args.server, token=args.token or find_token())
        target = await _resolve(args, client)
        origin = clock.monotonic()
        wall_origin = clock.time()
        poller = _poller(args, target, client, clock, origin)
        view = _ProgressView(plan, clock, origin, show=not args.no_progress)
        runner = LoadRunner(
            target, plan, session=session, clock=clock, origin=origin, on_record=view.record
        )
        if poller is not None:
            await poller.sample()  # before the first request: did the run start at zero?
        stop = asyncio.Event()
        with view.context():
            async with asyncio.TaskGroup() as tg:
                if poller is not None:
                    tg.create_task(poller.run(stop), name="minikn-load-replica-poller")
                try:
                    if levels:
                        spans = await _sweep(runner, levels, target, plan, session, clock, origin)
                    else:
                        await runner.run()
                finally:
                    stop.set()
    records = runner.records
    samples = poller.samples if poller is not None else []
    # Polled counts lag: the levels read them as the chart does, agreeing with the responses.
    aligned = align_ready(samples, records)
    sweep: list[LevelSummary] = []
    for level, (start, end) in zip(levels, spans, strict=False):
        mine = [r for r in records if start <= r.start < end]
        sweep.append(summarize_level(level, mine, aligned, start=start, end=end))
    summary = summarize(records)
    cold = analyze_cold_start(records, samples)
    failures = check_thresholds(summary, thresholds)
    host = f" (Host: {target.host})" if target.host else ""
    out.print(f"[bold]minikn load[/bold] {target.url}{host}")
    print_report(out, summary, cold, failures)
    if sweep:
        print_sweep(out, sweep)
        if args.csv is not None:
            write_sweep_csv(args.csv, sweep)
        if args.plot is not None:
            await asyncio.to_thread(write_sweep_plot, args.plot, sweep, title=args.target)
        return 1 if failures else 0
    if args.csv is not None:
        write_csv(args.csv, records, wall_origin=wall_origin, ready_at=cold.ready_at)
    if args.plot is not None:
        await asyncio.to_thread(write_plot, args.plot, records, samples, title=args.target)
    return 1 if failures else 0


async def _sweep(  # noqa: PLR0917 - the run's parts
    first: LoadRunner,
    levels: tuple[int, ...],
    target: Target,
    plan: LoadPlan,
    session: aiohttp.ClientSession,
    clock: Clock,
    origin: float,
) -> list[tuple[float, float]]:
    """Run each level in turn (``first`` collects every record); each level's window. Times run
    from the sweep's ``origin``, so a level's ``-z`` ends that long after the level starts."""
    spans: list[tuple[float, float]] = []
    for level in levels:
        start = clock.monotonic() - origin
        duration = None if plan.duration is None else start + plan.duration
        level_plan = replace(plan, concurrency=level, duration=duration)
        runner = LoadRunner(target, level_plan, session=session, clock=clock, origin=origin)
        await runner.run()
        spans.append((start, clock.monotonic() - origin))
        first.records.extend(runner.records)
    return spans
