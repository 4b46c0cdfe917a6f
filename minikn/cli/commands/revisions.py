"""``minikn revisions NAME``: every revision of an ISVC with its traffic and readiness."""

from __future__ import annotations

import argparse

from rich.table import Table

from minikn.cli.commands.common import SubParsers, add_client_args, age, client, console, fail
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("revisions", help="list an InferenceService's revisions")
    p.add_argument("name")
    add_client_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = f"/api/v1/namespaces/{args.namespace}/inferenceservices/{args.name}/revisions"
    try:
        items = client(args).request("GET", path)["items"]
    except MiniknError as exc:
        return fail(exc.message)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in (
        "NAME",
        "COMPONENT",
        "GENERATION",
        "READY",
        "LIVE",
        "TRAFFIC",
        "TAGS",
        "AGE",
        "REASON",
    ):
        table.add_column(col, no_wrap=True)
    for r in items:
        failure = r["failure"]
        table.add_row(
            r["name"],
            r["component"],
            str(r["generation"]),
            "True" if r["ready"] else "False",
            "yes" if r["live"] else "no",
            f"{r['percent']}%",
            ",".join(r["tags"]),
            age(r["createdAt"]),
            failure["reason"] if failure else "",
        )
    console().print(table)
    return 0
