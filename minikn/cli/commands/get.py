"""``minikn get isvc [NAME]``: kubectl-style table or the full object."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from minikn.api.convert import V1BETA1
from minikn.cli.commands.common import (
    SubParsers,
    add_client_args,
    age,
    client,
    console,
    dump,
    fail,
)
from minikn.core.errors import MiniknError

__all__ = ["isvc_row", "register"]

COLUMNS = (
    "NAME",
    "URL",
    "READY",
    "PREV",
    "LATEST",
    "PREVROLLEDOUTREVISION",
    "LATESTREADYREVISION",
    "AGE",
)


def register(sub: SubParsers) -> None:
    p = sub.add_parser("get", help="list InferenceServices")
    p.add_argument("resource", choices=("isvc", "inferenceservice", "inferenceservices"))
    p.add_argument("name", nargs="?")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-o", "--output", choices=("yaml", "json", "wide"), default=None)
    add_client_args(p)
    p.set_defaults(func=run)


def isvc_row(item: dict[str, Any]) -> list[str]:
    """KServe's printer columns (its CRD's additionalPrinterColumns), all from the predictor's
    traffic: PREV and PREVROLLEDOUTREVISION = the entry tagged ``prev``, LATEST and
    LATESTREADYREVISION = the ``latestRevision`` entry."""
    status = item.get("status") or {}
    comp = (status.get("components") or {}).get("predictor", {})
    traffic = comp.get("traffic") or []
    prev_t: dict[str, Any] = next((t for t in traffic if t.get("tag") == "prev"), {})
    latest_t: dict[str, Any] = next((t for t in traffic if t.get("latestRevision")), {})
    prev = str(prev_t.get("percent", ""))
    latest = str(latest_t.get("percent", ""))
    ready = next(
        (c["status"] for c in status.get("conditions", []) if c["type"] == "Ready"), "Unknown"
    )
    meta = item.get("metadata") or {}
    return [
        str(meta.get("name", "")),
        str(status.get("url", "")),
        ready,
        prev,
        latest,
        str(prev_t.get("revisionName", "")),
        str(latest_t.get("revisionName", "")),
        age(meta.get("creationTimestamp")),
    ]


def run(args: argparse.Namespace) -> int:
    api = client(args)
    try:
        if args.name:
            data: Any = api.request("GET", api.isvc_path(args.namespace, args.name))
            items = [data]
        else:
            path = api.isvc_path(None if args.all_namespaces else args.namespace)
            items = api.list_items(path)
            data = {"apiVersion": V1BETA1, "kind": "InferenceServiceList", "items": items}
    except MiniknError as exc:
        return fail(exc.message)
    if args.output in ("yaml", "json"):
        print(dump(data, args.output), end="" if args.output == "yaml" else "\n")
        return 0
    if not items:
        print(
            f"No resources found in {'any' if args.all_namespaces else args.namespace} namespace."
        )
        return 0
    table = Table(box=None, pad_edge=False, show_edge=False)
    cols = ("NAMESPACE", *COLUMNS) if args.all_namespaces else COLUMNS
    for col in cols:
        table.add_column(col, no_wrap=True)
    for item in items:
        row = isvc_row(item)
        if args.all_namespaces:
            row.insert(0, str(item.get("metadata", {}).get("namespace", "")))
        table.add_row(*row)
    console().print(table)
    return 0
