"""What recent apply bodies held (each document's identity and content digest), kept with the
bodies' bytes: a body sent again is recognised as unchanged by one comparison of its bytes,
without being parsed (or hashed) again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web

from minikn.api.documents import Document

__all__ = ["HEADS", "BodyHeads"]

_EDGE = 512
"""Bytes of each end of a body in its lookup key (the full bytes are compared after)."""

_Key = tuple[int, bytes, bytes, str | None, bool]


def _key(raw: bytes, charset: str | None, as_json: bool) -> _Key:
    return (len(raw), raw[:_EDGE], raw[-_EDGE:], charset, as_json)


def _head(doc: Document) -> Document:
    """``doc`` with only what recognising it needs: kind, name, namespace, digest."""
    meta = {"name": doc.name, "namespace": doc.namespace}
    return Document(doc.source, doc.index, {"kind": doc.kind, "metadata": meta}, None, doc.digest)


def _too_long(doc: Document) -> bool:
    """Longer than any stored ISVC's kind, name (a DNS label) or namespace can be."""
    return len(doc.kind) > 64 or len(doc.name) > 253 or len(doc.namespace) > 253


class BodyHeads:
    """The documents' heads of the last ``entries`` bodies, with their bytes: at most
    ``documents`` heads and ``max_bytes`` bytes in all (least recently used dropped first). A body
    of the same bytes, charset and type parses to the same documents (the server's limits are
    fixed), so its heads stand for it."""

    def __init__(
        self, *, entries: int = 8, documents: int = 20_000, max_bytes: int = 32 << 20
    ) -> None:
        self._entries = entries
        self._documents = documents
        self._max_bytes = max_bytes
        self._docs_held = 0
        self._bytes_held = 0
        self._bodies: OrderedDict[_Key, tuple[bytes, list[Document]]] = OrderedDict()

    def get(self, raw: bytes, charset: str | None, as_json: bool) -> list[Document] | None:
        key = _key(raw, charset, as_json)
        held = self._bodies.get(key)
        if held is None or held[0] != raw:
            return None
        self._bodies.move_to_end(key)
        return held[1]

    def put(self, raw: bytes, charset: str | None, as_json: bool, docs: Sequence[Document]) -> None:
        """Remember ``docs``' heads when every one has a digest (else nothing is recognised)."""
        if not docs or len(docs) > self._documents or len(raw) > self._max_bytes:
            return
        if any(d.digest is None or d.error is not None or _too_long(d) for d in docs):
            return  # never recognised as stored: nothing to remember
        key = _key(raw, charset, as_json)
        old = self._bodies.pop(key, None)
        if old is not None:
            self._drop(old)
        self._bodies[key] = (raw, [_head(d) for d in docs])
        self._docs_held += len(docs)
        self._bytes_held += len(raw)
        while (
            len(self._bodies) > self._entries
            or self._docs_held > self._documents
            or self._bytes_held > self._max_bytes
        ):
            _, dropped = self._bodies.popitem(last=False)
            self._drop(dropped)

    def _drop(self, held: tuple[bytes, list[Document]]) -> None:
        self._docs_held -= len(held[1])
        self._bytes_held -= len(held[0])


HEADS = web.AppKey("body_heads", BodyHeads)
"""The API app's memory of recent apply bodies."""
