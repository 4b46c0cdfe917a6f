"""Apply documents validated where they were parsed (the API's parse worker), so that
:meth:`Controller.apply` does not validate large bodies on the event loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from minikn.api.documents import Document
from minikn.api.validate import ParsedGraph, ParsedIsvc, ParsedRuntime, parse_document
from minikn.config import Settings
from minikn.controlplane.revisions import component_hash
from minikn.core.errors import InvalidInput

__all__ = ["Prevalidated", "prevalidate"]

Prevalidated = ParsedIsvc | ParsedRuntime | ParsedGraph | InvalidInput | None
"""One document's :func:`parse_document` result, or the InvalidInput it raised, or None (not
validated: the controller validates it itself)."""


def prevalidate(docs: Sequence[Document], settings: Settings) -> list[Prevalidated]:
    """``parse_document(doc, settings)`` of each document (the default annotation validator,
    which depends on ``settings`` alone), with each ISVC component's revision hash computed; an
    unexpected error leaves that document to the controller, which raises it as before."""
    out: list[Prevalidated] = []
    for doc in docs:
        try:
            parsed = parse_document(doc, settings)
        except InvalidInput as exc:
            out.append(InvalidInput(exc.message, reason=exc.reason))
            continue
        except Exception:  # the controller meets (and reports) it again
            out.append(None)
            continue
        out.append(_with_hashes(parsed) if isinstance(parsed, ParsedIsvc) else parsed)
    return out


def _with_hashes(parsed: ParsedIsvc) -> ParsedIsvc:
    meta = parsed.annotations
    components = {
        name: dataclasses.replace(
            intent,
            spec_hash=component_hash(intent.spec, meta),
            stable_hash=None if intent.stable is None else component_hash(intent.stable, meta),
        )
        for name, intent in parsed.components.items()
    }
    return dataclasses.replace(parsed, components=components)
