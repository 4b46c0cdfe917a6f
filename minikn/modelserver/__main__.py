"""``python -m minikn.modelserver --model_name NAME --model_dir DIR --http_port PORT``.

Takes KServe's runtime arguments; unknown ones are tolerated (KServe's ``parse_known_args``).

gRPC (KServe's ``inference.GRPCInferenceService``) is served beside REST when ``--grpc_port`` is
given and ``--enable_grpc`` is true (its default, as KServe's). KServe listens on 8081 unless
told otherwise; minikn opens no second port nobody asked for, so without ``--grpc_port`` there is
no gRPC (and ``grpcio`` is never imported).
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


# KServe's constants.MAX_GRPC_MESSAGE_LENGTH (minikn.modelserver.grpc.server has the same; not
# imported from there so that REST-only servers never import protobuf).
_MAX_GRPC_MESSAGE_LENGTH = 8 * 2**20


def _bool(text: str) -> bool:
    """KServe's ``strtobool``: y/yes/t/true/on/1 and n/no/f/false/off/0, any case."""
    value = text.strip().lower()
    if value in ("y", "yes", "t", "true", "on", "1"):
        return True
    if value in ("n", "no", "f", "false", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    parser.add_argument(
        "--grpc_port", type=int, default=None, help="serve gRPC here (KServe's default is 8081)"
    )
    parser.add_argument(
        "--enable_grpc", type=_bool, default=True, help="serve gRPC on --grpc_port (KServe's)"
    )
    parser.add_argument(
        "--grpc_max_receive_message_length",
        type=_positive,
        default=_MAX_GRPC_MESSAGE_LENGTH,
        help="largest gRPC request in bytes (KServe's default, 8 MiB)",
    )
    parser.add_argument(
        "--grpc_max_send_message_length",
        type=_positive,
        default=_MAX_GRPC_MESSAGE_LENGTH,
        help="largest gRPC response in bytes (KServe's default, 8 MiB)",
    )
    parser.add_argument(
        "--grpc_max_concurrent_streams",
        type=_positive,
        default=1024,
        help="gRPC calls in flight per client connection",
    )
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
    grpc_server = None
    try:
        if args.grpc_port is not None and args.enable_grpc:
            from minikn.modelserver.grpc.server import GrpcServer, GrpcSettings

            settings = GrpcSettings(
                max_receive_bytes=args.grpc_max_receive_message_length,
                max_send_bytes=args.grpc_max_send_message_length,
                max_concurrent_streams=args.grpc_max_concurrent_streams,
            )
            grpc_server = GrpcServer(server.dataplane, settings)
            bound = await grpc_server.start(args.host, args.grpc_port)
            log.info("model %s: gRPC on %s:%d", args.model_name, args.host, bound)
        done = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
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
        if grpc_server is not None:
            await grpc_server.stop()
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
