"""``minikn delete isvc NAME`` / ``minikn delete -f FILE``."""

from __future__ import annotations

import argparse
import sys

from minikn.api.documents import load_paths
from minikn.apiserver.client import ApiError
from minikn.cli.commands.common import SubParsers, add_client_args, client, fail
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "delete", help="delete InferenceServices or InferenceGraphs (by name or file)"
    )
    p.add_argument(
        "resource", nargs="?", choices=("isvc", "inferenceservice", "ig", "inferencegraph")
    )
    p.add_argument("name", nargs="?")
    p.add_argument("-f", "--filename", action="append", help="file, directory or -")
    add_client_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Delete every target and report each, as kubectl does: one that is already gone does not
    stop the rest; the exit code is 1 when any failed."""
    api = client(args)
    targets: list[tuple[str, str, bool]] = []
    try:
        if args.filename:
            for doc in load_paths(args.filename):
                if doc.error:
                    return fail(f"{doc.where()}: {doc.error}")
                if doc.kind in ("InferenceService", "InferenceGraph"):
                    targets.append((doc.namespace, doc.name, doc.kind == "InferenceGraph"))
        elif args.resource and args.name:
            targets.append((args.namespace, args.name, args.resource in ("ig", "inferencegraph")))
        else:
            return fail("give `isvc NAME`, `ig NAME` or -f FILE")
    except MiniknError as exc:
        return fail(exc.message)
    failed = 0
    for ns, name, graph in targets:
        try:
            api.request("DELETE", (api.graph_path if graph else api.isvc_path)(ns, name))
        except ApiError as exc:
            if exc.status == 0:  # the API cannot be reached: the rest would fail the same way
                return fail(exc.message)
            failed += 1
            kind = "NotFound" if exc.status == 404 else f"{exc.status}"
            print(f"Error from server ({kind}): {exc.message}", file=sys.stderr)
            continue
        kind = "inferencegraph" if graph else "inferenceservice"
        print(f'{kind}.serving.kserve.io "{name}" deleted')
    return 1 if failed else 0
