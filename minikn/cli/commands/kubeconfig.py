"""``minikn kubeconfig``: add the running platform's ``minikn`` context to a kubeconfig.

``minikn serve`` writes ``<state-dir>/kubeconfig`` (its HTTPS address, its certificate, its
token); this merges that context into ``$KUBECONFIG``'s first file or ``~/.kube/config`` (or
``--file``), keeping every other cluster, user and context. The file is written owner-only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from minikn.apiserver.kube.kubeconfig import CONTEXT, merge_kubeconfig
from minikn.cli.commands.common import SubParsers, fail
from minikn.controlplane.store import default_state_dir

__all__ = ["default_kubeconfig_path", "register"]

SERVE_KUBECONFIG = "kubeconfig"


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "kubeconfig", help="add a 'minikn' context for the running platform to your kubeconfig"
    )
    p.add_argument("--state-dir", type=Path, default=None, help="the state dir `serve` uses")
    p.add_argument("--file", type=Path, default=None, help="kubeconfig to merge into")
    p.add_argument("--print", action="store_true", help="print minikn's kubeconfig instead")
    p.add_argument(
        "--no-switch", action="store_true", help="keep the current context (default: switch)"
    )
    p.set_defaults(func=run)


def default_kubeconfig_path(env: dict[str, str] | None = None) -> Path:
    """``$KUBECONFIG``'s first file, else ``~/.kube/config`` (kubectl's rule for writes)."""
    value = (env if env is not None else os.environ).get("KUBECONFIG", "")
    first = next((p for p in value.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"{path} is not a kubeconfig (not a mapping)")
    return data


def run(args: argparse.Namespace) -> int:
    source = (args.state_dir or default_state_dir()) / SERVE_KUBECONFIG
    try:
        ours = _load(source)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return fail(f"cannot read {source}: {exc}")
    if ours is None:
        return fail(f"{source} does not exist: start `minikn serve` (with the same --state-dir)")
    if args.print:
        sys.stdout.write(yaml.safe_dump(ours))
        return 0
    target = args.file or default_kubeconfig_path()
    try:
        merged = merge_kubeconfig(_load(target), ours, make_current=not args.no_switch)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # it holds a token: owner-only even when it existed before
        with os.fdopen(fd, "w") as f:
            f.write(yaml.safe_dump(merged))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return fail(f"cannot update {target}: {exc}")
    print(f"context {CONTEXT!r} written to {target}; use: kubectl --context {CONTEXT} get isvc")
    return 0
