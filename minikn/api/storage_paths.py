"""Relative local ``storageUri``s resolve against the directory of the YAML file that names them.

``file://./models/iris`` in ``config/examples/sklearn-iris.yaml`` means
``config/examples/models/iris`` wherever ``minikn apply``, ``validate`` or ``serve --watch`` runs,
as kubectl resolves kustomize paths against the kustomization's directory. The client (and the
``--watch`` loader) rewrites them to absolute ``file://`` URIs before the documents reach the
controller; documents without a file (stdin, API bodies) keep their URIs, which then resolve
against ``minikn serve``'s working directory. Pure apart from reading the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from minikn.api.documents import Document

__all__ = ["resolve_storage_paths", "resolve_uri"]

_FILE = "file://"


def resolve_uri(uri: str, base: Path) -> str:
    """``uri`` with a relative local path made absolute against ``base``; others unchanged.

    Relative means ``file://`` followed by a path that is not absolute (``file://./m``,
    ``file://m``), or a bare path starting with ``./`` or ``../``."""
    if uri.startswith(_FILE):
        path = uri[len(_FILE) :]
    elif uri.startswith(("./", "../")):
        path = uri
    else:
        return uri
    if not path or path.startswith(("/", "~")):
        return uri
    return _FILE + os.path.normpath(os.path.join(base, path))


def _rewrite(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        return {
            k: resolve_uri(v, base)
            if k == "storageUri" and isinstance(v, str)
            else _rewrite(v, base)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v, base) for v in node]
    return node


def resolve_storage_paths(docs: Sequence[Document]) -> list[Document]:
    """``docs`` with every relative local ``storageUri`` resolved against its file's directory."""
    out: list[Document] = []
    for doc in docs:
        if doc.error or doc.source.startswith("<"):  # <stdin>, <request>: no file to be beside
            out.append(doc)
            continue
        base = Path(os.path.abspath(doc.source)).parent
        out.append(replace(doc, body=_rewrite(doc.body, base)))
    return out
