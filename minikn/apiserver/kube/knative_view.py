"""Knative's view of minikn, read-only (placeholder until written)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["knative_routes"]


def knative_routes() -> list[web.RouteDef]:
    return []
