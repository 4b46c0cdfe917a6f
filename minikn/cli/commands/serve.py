"""``minikn serve``: run the platform in the foreground."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from minikn.cli.commands.common import SubParsers, fail, run_server
from minikn.config import ConfigError, Settings, load_settings
from minikn.controlplane.store import default_state_dir
from minikn.modelserver.storage.sources import default_roots
from minikn.platform.server import PlatformOptions, run_platform, token_from_env

__all__ = ["register", "with_storage_root"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("serve", help="run the platform (control plane, API, data path)")
    p.add_argument("--port", type=int, default=None, help="ingress port (default 8080)")
    p.add_argument("--api-port", type=int, default=None, help="API port (default 8081)")
    p.add_argument(
        "--kube-port",
        type=int,
        default=None,
        help="HTTPS port of the Kubernetes API (default 6443, any with --api-port 0; -1: off)",
    )
    p.add_argument("--host", default=None, help="ingress address (default 0.0.0.0)")
    p.add_argument("--api-host", default=None, help="API address (default 127.0.0.1)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state (default $MINIKN_STATE_DIR or ~/.minikn)",
    )
    p.add_argument("--backend", choices=("docker", "process", "auto"), default=None)
    p.add_argument("--config", type=Path, default=None, help="platform YAML (default: built-in)")
    p.add_argument(
        "--watch", type=Path, default=None, help="apply every ISVC YAML in DIR, re-apply on change"
    )
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return fail(str(exc))
    server = settings.minikn.server
    if args.watch is not None:
        if not args.watch.is_dir():
            return fail(f"--watch {args.watch}: not a directory")
        settings = with_storage_root(settings, args.watch)
    api_port = args.api_port if args.api_port is not None else server.api_port
    options = PlatformOptions(
        state_dir=args.state_dir or default_state_dir(),
        api_host=args.api_host or server.api_host,
        api_port=api_port,
        kube_port=_kube_port(args.kube_port, api_port, server.kube_port),
        ingress_host=args.host or server.ingress_host,
        ingress_port=args.port if args.port is not None else server.ingress_port,
        backend=args.backend or settings.minikn.replicas.backend,
        watch=args.watch,
        token=token_from_env(),
        prestart_parser=True,
    )
    return run_server(
        _serve(settings, options),
        ingress_port=options.ingress_port,
        api_port=options.api_port,
        kube_port=options.kube_port,
    )


async def _serve(settings: Settings, options: PlatformOptions) -> int:
    await run_platform(settings, options)
    return 0


def _kube_port(flag: int | None, api_port: int, configured: int) -> int:
    """``--kube-port``, else any free port when the API takes any (``--api-port 0``: tests and
    side-by-side platforms), else the configured one."""
    if flag is not None:
        return flag
    return 0 if api_port == 0 and configured > 0 else configured


def with_storage_root(settings: Settings, directory: Path) -> Settings:
    """``settings`` with ``directory`` added to ``minikn.storage.allowedRoots`` (kept as they
    were, or their default, the shipped examples; never the working directory): a watched
    directory's manifests may point at models beside them (relative URIs resolve against it)."""
    storage = settings.minikn.storage
    roots = [str(root) for root in default_roots(storage)]
    storage = storage.model_copy(update={"allowed_roots": [*roots, str(directory.resolve())]})
    minikn = settings.minikn.model_copy(update={"storage": storage})
    return settings.model_copy(update={"minikn": minikn})
