"""``minikn delete isvc NAME`` / ``minikn delete -f FILE``."""

from __future__ import annotations

import argparse

from minikn.api.documents import load_paths
from minikn.cli.commands.common import SubParsers, add_client_args, client, fail
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("delete", help="delete InferenceServices (by name or by file)")
    p.add_argument("resource", nargs="?", choices=("isvc", "inferenceservice"))
    p.add_argument("name", nargs="?")
    p.add_argument("-f", "--filename", action="append", help="file, directory or -")
    add_client_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    api = client(args)
    targets: list[tuple[str, str]] = []
    try:
        if args.filename:
            for doc in load_paths(args.filename):
                if doc.error:
                    return fail(f"{doc.where()}: {doc.error}")
                if doc.kind == "InferenceService":
                    targets.append((doc.namespace, doc.name))
        elif args.resource and args.name:
            targets.append((args.namespace, args.name))
        else:
            return fail("give `isvc NAME` or -f FILE")
        for ns, name in targets:
            api.request("DELETE", api.isvc_path(ns, name))
            print(f'inferenceservice.serving.kserve.io "{name}" deleted')
    except MiniknError as exc:
        return fail(exc.message)
    return 0
