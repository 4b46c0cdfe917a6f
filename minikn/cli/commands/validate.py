"""``minikn validate -f FILE|DIR``: offline validation, one line per document."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikn.api.documents import load_paths
from minikn.api.storage_paths import resolve_storage_paths
from minikn.cli.commands.common import SubParsers, fail
from minikn.config import ConfigError, load_settings
from minikn.controlplane.controller import validate_documents
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("validate", help="check manifests offline (exit 1 on any invalid document)")
    p.add_argument("-f", "--filename", action="append", required=True, help="file, directory or -")
    p.add_argument("--config", type=Path, default=None, help="platform YAML (default: built-in)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        docs = resolve_storage_paths(load_paths(args.filename))
    except (ConfigError, MiniknError) as exc:
        return fail(str(exc))
    if not docs:
        return fail("no documents found")
    invalid = 0
    for doc, error in validate_documents(docs, settings):
        if error is None:
            print(f"{doc.where()}: valid")
        else:
            invalid += 1
            print(f"INVALID {error}")
    return 1 if invalid else 0
