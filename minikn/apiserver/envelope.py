"""The documents of an apply body: bare YAML/JSON documents or the CLI's envelope, each with its
content digest (run where the body was parsed: off the event loop)."""

from __future__ import annotations

from typing import Any

from minikn.api.documents import Document, content_digest
from minikn.core.errors import InvalidInput

__all__ = ["unwrap_documents"]


def _document(source: str, index: int, body: Any, error: str | None) -> Document:
    digest = None
    if error is None and isinstance(body, dict):
        try:
            digest = content_digest(body)
        except RecursionError:  # deeper than repr goes: no shortcut, the apply refuses it
            digest = None
    return Document(source, index, body, error, digest)


def unwrap_documents(bodies: list[Any]) -> list[Document]:
    """The documents of a body; the CLI's envelope ``{"documents": [{"source", "index", "body",
    "error"}]}`` keeps file names for messages."""
    if len(bodies) == 1 and isinstance(bodies[0], dict) and set(bodies[0]) == {"documents"}:
        items = bodies[0]["documents"]
        if not isinstance(items, list):
            raise InvalidInput("documents: must be a list")
        docs = []
        for i, d in enumerate(items):
            if not isinstance(d, dict) or not set(d) <= {"source", "index", "body", "error"}:
                raise InvalidInput(
                    f"documents[{i}]: must be a mapping of source, index, body and error"
                )
            source, index, error = d.get("source", "<request>"), d.get("index", i), d.get("error")
            if not isinstance(source, str) or len(source) > 4096:
                raise InvalidInput(f"documents[{i}].source: must be a string (a file name)")
            if isinstance(index, bool) or not isinstance(index, int):
                raise InvalidInput(f"documents[{i}].index: must be an integer")
            if error is not None and not isinstance(error, str):
                raise InvalidInput(f"documents[{i}].error: must be a string or null")
            if d.get("body") is None and error is None:
                continue  # an empty document, as in a YAML stream
            docs.append(_document(source, index, d.get("body"), error))
        bodies_docs = docs
    else:
        bodies_docs = [_document("<request>", i, b, None) for i, b in enumerate(bodies)]
    if not bodies_docs:
        raise InvalidInput("no documents in the request body: send YAML or JSON documents")
    return bodies_docs
