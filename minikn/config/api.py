"""``minikn.api``: the bounds of the control-plane API (what a request may cost the platform)."""

from __future__ import annotations

from pydantic import Field, field_validator

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
    parse_workers: int = Field(1, alias="parseWorkers", ge=1, le=64)
    """Processes that parse large request bodies (started at the first one): parsing holds
    Python's GIL, so in a thread of the serving process it would slow the data path."""
    parse_in_process_bytes: int = Field(65536, alias="parseInProcessBytes", ge=0)
    """Bodies of at least this many characters are parsed in those processes, smaller ones in a
    thread (starting a process costs more than parsing a small body)."""
    allowed_origins: list[str] = Field(default_factory=list, alias="allowedOrigins")
    """Origins (``scheme://host[:port]``) whose pages may send mutating requests. Otherwise a
    mutating request that carries an ``Origin`` is refused unless the API listens on loopback and
    the Origin is its own (bound beyond loopback, a DNS-rebound page's Origin equals its
    ``Host``, so "its own" proves nothing there)."""

    @field_validator("allowed_origins")
    @classmethod
    def _normalise_origins(cls, origins: list[str]) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in origins]
