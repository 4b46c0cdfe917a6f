"""``minikn logs ISVC [--component C] [--revision R] [-f]``: replica logs from either backend."""

from __future__ import annotations

import argparse
import sys
import urllib.parse

from minikn.cli.commands.common import SubParsers, add_client_args, client, fail
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("logs", help="print (or follow) the logs of an InferenceService's replicas")
    p.add_argument("name")
    p.add_argument("--component", choices=("predictor", "transformer", "explainer"))
    p.add_argument("--revision", help="one revision (default: the live revisions)")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming new lines")
    add_client_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    query = {
        k: v
        for k, v in (
            ("component", args.component),
            ("revision", args.revision),
            ("follow", "true" if args.follow else None),
        )
        if v
    }
    path = f"/api/v1/namespaces/{args.namespace}/inferenceservices/{args.name}/logs"
    if query:
        path += "?" + urllib.parse.urlencode(query)
    try:
        for line in client(args).stream_lines(path):
            sys.stdout.write(line)
            sys.stdout.flush()
    except MiniknError as exc:
        return fail(exc.message)
    except KeyboardInterrupt:
        return 130
    return 0
