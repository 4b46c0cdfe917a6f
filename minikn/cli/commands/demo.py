"""``minikn demo``: serve the example sklearn-iris ISVC and show a prediction through the ingress.

Trains the example models (bundled iris data, no download; each one whose library is installed,
so that ``minikn apply -f config/examples/`` works next), starts the platform (the process
backend by default, so no Docker engine is needed for a first run), applies
``config/examples/sklearn-iris.yaml``, waits until it is Ready, sends one prediction through the
router, prints the curl to try, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
from pathlib import Path
from typing import Any

import aiohttp

from minikn.api.documents import load_paths
from minikn.api.storage_paths import resolve_storage_paths
from minikn.cli.commands.common import SubParsers, fail, run_server
from minikn.config import ConfigError, load_settings
from minikn.controlplane.store import default_state_dir
from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform, PlatformOptions, stop_on_signals, token_from_env

__all__ = ["register"]

EXAMPLES = Path("config/examples")
EXAMPLE = EXAMPLES / "sklearn-iris.yaml"
INPUT = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}


def register(sub: SubParsers) -> None:
    p = sub.add_parser("demo", help="serve the example sklearn-iris ISVC and show a prediction")
    p.add_argument("--port", type=int, default=8080, help="ingress port (default 8080)")
    p.add_argument("--api-port", type=int, default=8081, help="API port (default 8081)")
    p.add_argument("--backend", choices=("process", "docker", "auto"), default="process")
    p.add_argument("--state-dir", type=Path, default=None, help="default: <state dir>/demo")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--once", action="store_true", help="exit after the first prediction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not EXAMPLE.is_file():
        return fail(f"{EXAMPLE} not found: run `minikn demo` from the minikn repository root")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return fail(str(exc))
    print("minikn demo: training the example models (iris, bundled with scikit-learn) ...")
    # Every example whose library is installed, so `minikn apply -f config/examples/` works next.
    if "sklearn-iris" not in ensure_example_models(EXAMPLES / "models"):
        return fail("scikit-learn is not installed: pip install 'minikn[sklearn]' (or make demo)")
    options = PlatformOptions(
        state_dir=args.state_dir or default_state_dir() / "demo",
        api_port=args.api_port,
        ingress_port=args.port,
        backend=args.backend,
        token=token_from_env(),
    )
    return run_server(
        _demo(settings, options, once=args.once),
        ingress_port=options.ingress_port,
        api_port=options.api_port,
    )


async def _demo(settings: Any, options: PlatformOptions, *, once: bool) -> int:
    platform = Platform(settings, options)
    stop = stop_on_signals()
    try:  # a failed start (a port in use) still stops what it started
        await platform.start()
        await platform.controller.apply(resolve_storage_paths(load_paths([str(EXAMPLE)])))
        print(f"minikn demo: applied {EXAMPLE}; waiting for sklearn-iris to become Ready ...")
        if not await _wait_ready(platform, seconds=180):
            status = platform.controller.get("default", "sklearn-iris")["status"]
            print(json.dumps(status.get("conditions"), indent=2))
            return 1
        url = f"http://127.0.0.1:{platform.ingress_port}/v1/models/sklearn-iris:predict"
        host = "sklearn-iris.default.example.com"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=INPUT, headers={"Host": host}) as resp,
        ):
            body = await resp.text()
        print(f"minikn demo: prediction through the ingress: {resp.status} {body}")
        print(
            "\nTry it:\n"
            f"  curl -H 'Host: {host}' {url} -d '{json.dumps(INPUT)}'\n"
            f"  {_client_env(options)}minikn get isvc --server http://127.0.0.1:{platform.api_port}\n"
            "Ctrl-C stops the platform and its replicas."
        )
        if not once:
            await stop.wait()
        return 0 if resp.status == 200 else 1
    finally:
        await platform.close()


def _client_env(options: PlatformOptions) -> str:
    """What the CLI needs to find the demo's token (its state dir is not the CLI's default)."""
    if options.token is not None:  # $MINIKN_API_TOKEN: the CLI reads it too
        return ""
    return f"MINIKN_STATE_DIR={shlex.quote(str(options.state_dir))} "


async def _wait_ready(platform: Platform, *, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while True:
                status = platform.controller.get("default", "sklearn-iris").get("status", {})
                conds = status.get("conditions", [])
                ready = next((c for c in conds if c["type"] == "Ready"), None)
                if ready and ready["status"] == "True":
                    return True
                await asyncio.sleep(0.2)
    except TimeoutError:
        return False
