"""What an apply did, and offline validation of documents (``minikn validate``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from minikn.api.documents import Document
from minikn.api.runtimes import RuntimeRegistry
from minikn.api.validate import AnnotationValidator, ParsedRuntime, parse_document
from minikn.config import Settings
from minikn.core.errors import InvalidInput

__all__ = ["ApplyResult", "named", "validate_documents"]


@dataclass(frozen=True)
class ApplyResult:
    """What one document of an apply did."""

    where: str
    kind: str
    name: str
    namespace: str
    action: str
    """created | configured | unchanged."""
    revisions: list[str] = field(default_factory=list)
    """Revisions this apply created."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(reason, message) of components that got no revision (NoSupportingRuntime)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "document": self.where,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "action": self.action,
            "revisions": self.revisions,
            "warnings": [{"reason": r, "message": m} for r, m in self.warnings],
        }


def validate_documents(
    docs: Sequence[Document], settings: Settings, check: AnnotationValidator | None = None
) -> list[tuple[Document, str | None]]:
    """Offline validation: (document, None) when valid, else (document, the message)."""
    scratch = RuntimeRegistry()
    out: list[tuple[Document, str | None]] = []
    for doc in docs:
        try:
            parsed = parse_document(doc, settings, check)
            if isinstance(parsed, ParsedRuntime):
                scratch.add(parsed.doc)
        except InvalidInput as exc:
            out.append((doc, named(doc, exc)))
        else:
            out.append((doc, None))
    return out


def named(doc: Document, exc: InvalidInput) -> str:
    """The message, prefixed with the document unless it already names it."""
    return exc.message if exc.message.startswith(doc.source) else f"{doc.where()}: {exc.message}"
