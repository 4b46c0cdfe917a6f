"""``minikn get isvc [NAME]``: kubectl-style table or the full object."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from minikn.api.convert import V1BETA1
from minikn.api.graph import GRAPH_API_VERSION
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

__all__ = ["graph_row", "isvc_row", "register"]

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
    p = sub.add_parser("get", help="list InferenceServices or InferenceGraphs")
    p.add_argument("resource", choices=(*ISVC_NAMES, *GRAPH_NAMES))
    p.add_argument("name", nargs="?")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-o", "--output", choices=("yaml", "json", "wide"), default=None)
    add_client_args(p)
    p.set_defaults(func=run)


ISVC_NAMES = ("isvc", "inferenceservice", "inferenceservices")
GRAPH_NAMES = ("ig", "inferencegraph", "inferencegraphs")
GRAPH_COLUMNS = ("NAME", "URL", "READY", "AGE")
"""KServe's InferenceGraph printer columns."""


def graph_row(item: dict[str, Any]) -> list[str]:
    status = item.get("status") or {}
    ready = next(
        (c["status"] for c in status.get("conditions", []) if c["type"] == "Ready"), "Unknown"
    )
    meta = item.get("metadata") or {}
    return [
        str(meta.get("name", "")),
        str(status.get("url", "")),
        ready,
        age(meta.get("creationTimestamp")),
    ]


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
    graphs = args.resource in GRAPH_NAMES
    path = api.graph_path if graphs else api.isvc_path
    try:
        if args.name:
            data: Any = api.request("GET", path(args.namespace, args.name))
            items = [data]
        else:
            items = api.list_items(path(None if args.all_namespaces else args.namespace))
            kind = "InferenceGraphList" if graphs else "InferenceServiceList"
            data = {"apiVersion": GRAPH_API_VERSION if graphs else V1BETA1, "kind": kind}
            data["items"] = items
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
    columns = GRAPH_COLUMNS if graphs else COLUMNS
    cols = ("NAMESPACE", *columns) if args.all_namespaces else columns
    for col in cols:
        table.add_column(col, no_wrap=True)
    for item in items:
        row = graph_row(item) if graphs else isvc_row(item)
        if args.all_namespaces:
            row.insert(0, str(item.get("metadata", {}).get("namespace", "")))
        table.add_row(*row)
    console().print(table)
    return 0
