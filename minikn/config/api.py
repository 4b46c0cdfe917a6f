"""``minikn.api``: the bounds of the control-plane API (what a request may cost the platform)."""

from __future__ import annotations

from pydantic import Field

from minikn.config.types import ConfigGroup

__all__ = ["ApiConfig"]


class ApiConfig(ConfigGroup):
    """``minikn.api``: request limits of the control-plane API."""

    max_body_bytes: int = Field(3 * 1024 * 1024, alias="maxBodyBytes", ge=1)
    """Largest request body, 413 beyond it (kube-apiserver's ``--max-request-body-bytes``,
    3 MiB by default)."""
    max_document_nodes: int = Field(100_000, alias="maxDocumentNodes", ge=1)
    """Most YAML/JSON nodes (scalars, lists, mappings) one request may hold, counting every
    alias as the nodes it expands to, so an alias bomb is refused while it is parsed (what
    go-yaml's "excessive aliasing" check does for kube-apiserver)."""
    max_document_depth: int = Field(100, alias="maxDocumentDepth", ge=1)
    """Deepest nesting of lists and mappings in a request body (aliases included)."""
