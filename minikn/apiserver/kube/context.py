"""What the Kubernetes API's handlers share: the controller, the hub, the clock (app keys)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from minikn.apiserver.bodies import parse_body
from minikn.apiserver.kube.hub import ObjectHub
from minikn.apiserver.kube.objects import KubeError
from minikn.apiserver.kube.table import wants_table
from minikn.controlplane.controller import Controller

__all__ = [
    "HUB",
    "KCTL",
    "NOW",
    "fields_match",
    "parse_field_selector",
    "read_object",
    "wants_table_output",
]

HUB = web.AppKey("kube_hub", ObjectHub)
KCTL = web.AppKey("kube_controller", Controller)
NOW: web.AppKey[Callable[[], float]] = web.AppKey("kube_now")
EPOCH = web.AppKey("list_epoch", str)
"""This server start's id: a list's ``continue`` token from another start is 410 Expired."""
"""Wall-clock seconds (ages in tables)."""

_JSON = frozenset(
    {
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
    }
)


async def read_object(request: web.Request) -> Any:
    """The single JSON or YAML document of the body (bounded like every API body)."""
    limits = request.app[KCTL].settings.minikn.api
    bodies = await parse_body(request, limits, as_json=request.content_type in _JSON)
    if len(bodies) != 1:
        raise KubeError(400, "BadRequest", f"expected one object in the body, got {len(bodies)}")
    return bodies[0]


def wants_table_output(request: web.Request) -> bool:
    return wants_table(request.headers.get("Accept", ""))


def parse_field_selector(text: str, allowed: frozenset[str]) -> dict[str, tuple[str, bool]]:
    """``a=b,c!=d`` on the fields ``allowed``: {field: (value, equal)}; 400 otherwise."""
    out: dict[str, tuple[str, bool]] = {}
    if len(text) > 4096:
        raise KubeError(400, "BadRequest", "fieldSelector: longer than 4096 characters")
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        equal = "!=" not in term
        key, _, value = term.partition("!=" if not equal else "=")
        key, value = key.strip(), value.strip().removeprefix("=")
        if key not in allowed:
            raise KubeError(
                400,
                "BadRequest",
                f"field label not supported: {key[:100]}",
            )
        out[key] = (value, equal)
    return out


def fields_match(selector: dict[str, tuple[str, bool]], fields: dict[str, str]) -> bool:
    return all((fields.get(k, "") == v) == eq for k, (v, eq) in selector.items())
