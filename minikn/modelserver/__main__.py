"""``python -m minikn.modelserver --model_name NAME --model_dir DIR --http_port PORT``.

Takes KServe's runtime arguments; unknown ones are tolerated (KServe's ``parse_known_args``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from minikn.core.errors import MiniknError
from minikn.modelserver.formats import build_model
from minikn.modelserver.server import ModelServer

__all__ = ["LOAD_FAILED_MARKER", "ModelLoadFailed", "main", "parse_args", "serve"]

log = logging.getLogger("minikn.modelserver")

LOAD_FAILED_MARKER = "ModelLoadFailed: "
"""The stderr line that tells the replica manager why the server exited (its condition message)."""


class ModelLoadFailed(Exception):
    """The model could not be loaded at start: the server exits 1, as KServe's does."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m minikn.modelserver")
    parser.add_argument("--model_name", default=os.environ.get("MODEL_NAME", "model"))
    parser.add_argument("--model_dir", default=os.environ.get("MODEL_DIR"))
    parser.add_argument("--http_port", type=int, default=8080)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--model_format", choices=["sklearn", "xgboost", "lightgbm"])
    parser.add_argument("--model_class", help="module:Class for a custom model")
    parser.add_argument("--nthread", type=int, default=1)
    parser.add_argument("--predictor_host", help="forward predictions here (transformer use)")
    parser.add_argument("--protocol", default="v1", choices=["v1", "v2", "grpc-v1", "grpc-v2"])
    parser.add_argument("--workers", type=int, default=1, help="accepted; one process serves")
    parser.add_argument("--grpc_port", type=int, default=8081, help="accepted; no gRPC server")
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        log.info("ignoring unknown arguments: %s", " ".join(unknown))
    return args


async def serve(args: argparse.Namespace, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT); ModelLoadFailed if the model cannot load."""
    try:
        model = build_model(
            args.model_name,
            Path(args.model_dir) if args.model_dir else None,
            model_format=args.model_format,
            model_class=args.model_class,
            nthread=args.nthread,
        )
    except MiniknError as exc:
        raise ModelLoadFailed(exc.message) from exc
    model.predictor_host = args.predictor_host
    model.protocol = args.protocol
    server = ModelServer([model])
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.http_port, backlog=1024)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else args.http_port
    log.info("model %s: listening on %s:%d", args.model_name, args.host, port)
    done = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        # KServe's server exits when its model fails to load at start (the pod crash-loops with
        # the reason); a model loaded later through the repository API fails only that call.
        loaded = asyncio.ensure_future(server.loaded.wait())
        stopped = asyncio.ensure_future(done.wait())
        await asyncio.wait({loaded, stopped}, return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        if server.loaded.is_set() and server.dataplane.failures:
            stopped.cancel()
            raise ModelLoadFailed("; ".join(server.dataplane.failures.values()))
        await stopped
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("MINIKN_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    args = parse_args(sys.argv[1:] if argv is None else argv)
    factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        factory = asyncio.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(args))
    except ModelLoadFailed as exc:
        # One line, last: the replica manager reads it from the replica's log tail.
        message = " ".join(str(exc).split())
        sys.stderr.write(f"{LOAD_FAILED_MARKER}model {args.model_name}: {message}\n")
        sys.stderr.flush()
        return 1
    except MiniknError as exc:
        log.error("model %s: %s", args.model_name, exc.message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
