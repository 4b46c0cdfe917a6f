"""Helpers shared by the client subcommands: server flags, output, document shipping."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import re
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import yaml

from minikn.api.documents import Document
from minikn.apiserver.client import DEFAULT_SERVER, SERVER_ENV, ApiClient
from minikn.core.errors import MiniknError
from minikn.core.terminal import console

__all__ = [
    "SubParsers",
    "add_client_args",
    "age",
    "client",
    "console",
    "documents_body",
    "dump",
    "fail",
    "listen_error",
    "run_server",
]

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_client_args(p: argparse.ArgumentParser, *, namespace: bool = True) -> None:
    p.add_argument(
        "--server", help=f"API URL (default ${SERVER_ENV} or {DEFAULT_SERVER})", default=None
    )
    if namespace:
        p.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")


def client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.server)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def documents_body(docs: Sequence[Document]) -> str:
    """Documents as the API's JSON envelope, keeping file names for error messages."""
    return json.dumps(
        {
            "documents": [
                {"source": d.source, "index": d.index, "body": d.body, "error": d.error}
                for d in docs
            ]
        },
        default=str,  # YAML timestamps and dates travel as their text
    )


def dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False)


def age(timestamp: str | None, now: float | None = None) -> str:
    """kubectl's AGE column (``45s``, ``12m``, ``3h``, ``2d``)."""
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    seconds = max(0, int((now if now is not None else time.time()) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def listen_error(
    exc: OSError, *, ingress_port: int, api_port: int, kube_port: int = -1
) -> str | None:
    """One line for a server that could not listen (a port in use), None for other errors."""
    if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return None
    # asyncio and uvloop name the address as "... on address ('HOST', PORT): ..."
    found = re.search(r"\('([^']*)', (\d+)\)", str(exc))
    host, port = (found.group(1), int(found.group(2))) if found else ("", 0)
    flags = {kube_port: "--kube-port", ingress_port: "--port", api_port: "--api-port"}
    flag = flags.get(port, "--port/--api-port")
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use: another minikn serve? choose a free one with {flag}"
    return f"cannot listen on {host}:{port} ({exc.strerror}); choose another with {flag}"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (the default on Linux and macOS), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_server(
    main: Coroutine[Any, Any, int], *, ingress_port: int, api_port: int, kube_port: int = -1
) -> int:
    """Run ``minikn serve``/``demo``'s main coroutine; an expected failure is one line, no
    traceback (a port in use names the flag that picks another)."""
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(main)
    except MiniknError as exc:
        return fail(exc.message)
    except OSError as exc:
        message = listen_error(
            exc, ingress_port=ingress_port, api_port=api_port, kube_port=kube_port
        )
        if message is None:
            raise
        return fail(message)
    except KeyboardInterrupt:
        return 130
