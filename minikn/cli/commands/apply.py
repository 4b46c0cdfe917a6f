"""``minikn apply -f FILE|DIR|-``: apply manifests (all or nothing)."""

from __future__ import annotations

import argparse

from minikn.api.documents import load_paths
from minikn.api.storage_paths import resolve_storage_paths
from minikn.cli.commands.common import (
    SubParsers,
    add_client_args,
    client,
    documents_body,
    fail,
)
from minikn.core.errors import MiniknError

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("apply", help="create or update InferenceServices and runtimes")
    p.add_argument("-f", "--filename", action="append", required=True, help="file, directory or -")
    add_client_args(p, namespace=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        docs = resolve_storage_paths(load_paths(args.filename))
        bad = [d for d in docs if d.error]
        if bad:
            return fail("\n".join(f"{d.where()}: {d.error}" for d in bad))
        if not docs:
            return fail("no documents found")
        answer = client(args).request(
            "POST", "/api/v1/apply", body=documents_body(docs), content_type="application/json"
        )
    except MiniknError as exc:
        return fail(exc.message)
    for r in answer["results"]:
        kind = "inferenceservice" if r["kind"] == "InferenceService" else r["kind"].lower()
        extra = f" (new revisions: {', '.join(r['revisions'])})" if r["revisions"] else ""
        print(f"{kind}.serving.kserve.io/{r['name']} {r['action']}{extra}")
        for w in r.get("warnings", []):
            print(f"  warning: {w['reason']}: {w['message']}")
    return 0
