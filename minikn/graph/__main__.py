"""``python -m minikn.graph --graph-json '{...}'``: an InferenceGraph's router replica.

The flags are KServe's router's (``--graph-json``, ``--inferencegraph-name``) plus where the
platform's ingress is (``--ingress host:port``, ``--domain``) and ``--seed`` (the Splitter
draws from ``random.Random(seed)``, so a run is reproducible; KServe's draws from
``crypto/rand``); ``PROPAGATE_HEADERS`` (comma-separated regexes) names the request headers
passed on to every step, as KServe's router reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import sys
from collections.abc import Sequence

import aiohttp
from aiohttp import web

from minikn.graph.caller import IngressCaller
from minikn.graph.decide import compile_patterns
from minikn.graph.executor import GraphExecutor
from minikn.graph.server import GraphMetrics, create_app
from minikn.graph.spec import parse_graph_json

log = logging.getLogger("minikn.graph")

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_RESPONSE = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minikn.graph", description=__doc__)
    p.add_argument("--graph-json", required=True, help="the InferenceGraph spec as JSON")
    p.add_argument("--inferencegraph-name", default="graph")
    p.add_argument("--ingress", default=None, help="host:port of minikn's ingress")
    p.add_argument("--domain", default="example.com", help="the ingress domain")
    p.add_argument("--http_port", type=int, default=int(os.environ.get("PORT", "8080")))
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    p.add_argument("--max-response-bytes", type=int, default=DEFAULT_MAX_RESPONSE)
    p.add_argument(
        "--seed", type=int, default=None, help="seed the Splitter's draws (reproducible runs)"
    )
    return p


async def serve(args: argparse.Namespace) -> None:
    graph = parse_graph_json(json.loads(args.graph_json))
    patterns = compile_patterns(os.environ.get("PROPAGATE_HEADERS", "").split(","))
    metrics = GraphMetrics(args.inferencegraph_name)
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        caller = IngressCaller(
            session,
            ingress=args.ingress,
            domain=args.domain,
            max_response_bytes=args.max_response_bytes,
            timeout_s=graph.service_client_timeout_s,
        )
        rng = random.Random(args.seed) if args.seed is not None else random.SystemRandom()
        executor = GraphExecutor(graph, caller, rng=rng, observe=metrics.observe_step)
        app = create_app(
            executor,
            metrics=metrics,
            patterns=patterns,
            max_body_bytes=args.max_body_bytes,
            timeout_s=graph.timeout_s,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.http_port)
        await site.start()
        log.info(
            "graph %s: router listening on %s:%d",
            args.inferencegraph_name,
            args.host,
            args.http_port,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    try:
        json.loads(args.graph_json)
        parse_graph_json(json.loads(args.graph_json))
    except (ValueError, AttributeError, TypeError) as exc:
        print(f"failed to read --graph-json: {exc}", file=sys.stderr)
        return 1
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
