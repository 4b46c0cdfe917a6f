"""``minikn config export``: the running platform's settings (or a config file's) as the
Kubernetes ConfigMaps a cluster reads (``kubectl apply -f`` them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from minikn.cli.commands.common import SubParsers, add_client_args, client, fail
from minikn.config import ConfigError, Settings, load_settings
from minikn.config.configmaps import settings_configmaps
from minikn.config.loader import settings_from_mapping

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("config", help="the platform's configuration")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    e = verbs.add_parser(
        "export",
        help="write Knative's and KServe's ConfigMaps reproducing the platform's settings",
    )
    add_client_args(e, namespace=False)
    e.add_argument(
        "--config", type=Path, default=None, help="export this file's settings (default: ask the "
        "running platform)",
    )  # fmt: skip
    e.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    e.set_defaults(func=export)


def _settings(args: argparse.Namespace) -> Settings:
    if args.config is not None:
        return load_settings(args.config)
    return settings_from_mapping(client(args).request("GET", "/api/v1/config"), "the platform")


def export(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        return fail(str(exc))
    docs = settings_configmaps(settings.model_dump(by_alias=True, mode="json"))
    text = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror}")
    # Server-side apply with its own manager keeps the keys the installation set (README).
    print(f"{len(docs)} ConfigMaps written to {args.output}; on a cluster: kubectl apply "
          f"--server-side --field-manager=minikn --force-conflicts -f {args.output}")  # fmt: skip
    return 0
