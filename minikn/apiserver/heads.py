"""What recent apply bodies held (each document's identity and content digest), by the body's
digest: a body sent again is recognised as unchanged without being parsed again."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web

from minikn.api.documents import Document

__all__ = ["HEADS", "BodyHeads", "body_key"]


def body_key(raw: bytes, charset: str | None, as_json: bool) -> str:
    """The digest of a body as received (bytes, charset, JSON or YAML): equal keys parse to
    equal documents (the parse is a function of these and the server's fixed limits)."""
    h = hashlib.sha256(raw)
    h.update(f"\0{charset}\0{as_json}".encode())
    return h.hexdigest()


def _head(doc: Document) -> Document:
    """``doc`` with only what recognising it needs: kind, name, namespace, digest."""
    meta = {"name": doc.name, "namespace": doc.namespace}
    return Document(doc.source, doc.index, {"kind": doc.kind, "metadata": meta}, None, doc.digest)


def _too_long(doc: Document) -> bool:
    """Longer than any stored ISVC's kind, name (a DNS label) or namespace can be."""
    return len(doc.kind) > 64 or len(doc.name) > 253 or len(doc.namespace) > 253


class BodyHeads:
    """The documents' heads of the last ``entries`` bodies, at most ``documents`` heads in all
    (least recently used dropped first)."""

    def __init__(self, *, entries: int = 8, documents: int = 20_000) -> None:
        self._entries = entries
        self._documents = documents
        self._held = 0
        self._heads: OrderedDict[str, list[Document]] = OrderedDict()

    def get(self, key: str) -> list[Document] | None:
        heads = self._heads.get(key)
        if heads is not None:
            self._heads.move_to_end(key)
        return heads

    def put(self, key: str, docs: Sequence[Document]) -> None:
        """Remember ``docs``' heads when every one has a digest (else nothing is recognised)."""
        if not docs or len(docs) > self._documents or key in self._heads:
            return
        if any(d.digest is None or d.error is not None or _too_long(d) for d in docs):
            return  # never recognised as stored: nothing to remember
        self._heads[key] = [_head(d) for d in docs]
        self._held += len(docs)
        while len(self._heads) > self._entries or self._held > self._documents:
            _, dropped = self._heads.popitem(last=False)
            self._held -= len(dropped)


HEADS = web.AppKey("body_heads", BodyHeads)
"""The API app's memory of recent apply bodies."""
