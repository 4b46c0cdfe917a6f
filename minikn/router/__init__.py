"""The ingress: Host/path matching (pure), weighted revision pick, component chaining."""

from minikn.router.router import REVISION_HEADER, Router

__all__ = ["REVISION_HEADER", "Router"]
