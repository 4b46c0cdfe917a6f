"""The core group's part minikn serves: Namespaces (those in use, plus the usual ones) and the
ISVCs' and InferenceGraphs' Events as ``core/v1`` Events (``kubectl describe`` lists them by
field selector)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from minikn.api.graph import GRAPH_KIND
from minikn.apiserver.kube.context import (
    HUB,
    KCTL,
    NOW,
    fields_match,
    parse_field_selector,
    wants_table_output,
)
from minikn.apiserver.kube.objects import KubeError, derive_uid
from minikn.apiserver.kube.table import table
from minikn.controlplane.status import rfc3339
from minikn.core.events import Event

__all__ = ["core_routes", "event_object"]

BUILTIN_NAMESPACES = ("default", "kserve", "knative-serving", "kube-system")
_EVENT_FIELDS = frozenset(
    {
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.kind",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "metadata.namespace",
        "metadata.name",
        "reason",
        "type",
    }
)


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": derive_uid("Namespace", "", name, 0.0),
            "resourceVersion": "1",
            "creationTimestamp": rfc3339(0),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _namespaces(request: web.Request) -> list[str]:
    ctl = request.app[KCTL]
    owners = [*ctl.list_isvcs(None), *ctl.list_isvcs(None, kind=GRAPH_KIND)]
    used = {i["metadata"].get("namespace", "default") for i in owners}
    return sorted(used | set(BUILTIN_NAMESPACES))


async def _list_namespaces(request: web.Request) -> web.Response:
    items = [_namespace(n) for n in _namespaces(request)]
    if wants_table_output(request):
        return web.json_response(table("namespaces", items, now=request.app[NOW]()))
    body = {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "1"},
            "items": items}  # fmt: skip
    return web.json_response(body)


async def _get_namespace(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _namespaces(request):
        raise KubeError(404, "NotFound", f'namespaces "{name[:253]}" not found',
                        {"name": name[:253], "kind": "namespaces"})  # fmt: skip
    obj = _namespace(name)
    if wants_table_output(request):
        return web.json_response(table("namespaces", [obj], now=request.app[NOW]()))
    return web.json_response(obj)


def event_object(
    event: Event, index: int, uid: str, api_version: str, kind: str = "InferenceService"
) -> dict[str, Any]:
    """One minikn event as a ``core/v1`` Event about its InferenceService (or graph)."""
    digest = hashlib.sha256(f"{event.time!r}/{index}/{event.reason}".encode()).hexdigest()[:16]
    when = rfc3339(event.time)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{event.isvc}.{digest}",
            "namespace": event.namespace,
            "uid": derive_uid("Event", event.namespace, digest, event.time),
            "resourceVersion": "1",
            "creationTimestamp": when,
        },
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": event.isvc,
            "namespace": event.namespace,
            "uid": uid,
        },
        "reason": event.reason,
        "message": event.message,
        "type": event.type,
        "source": {"component": "minikn"},
        "reportingComponent": "minikn",
        "reportingInstance": "minikn",
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }


def _events(request: web.Request, ns: str | None) -> list[dict[str, Any]]:
    ctl, hub = request.app[KCTL], request.app[HUB]
    fields = parse_field_selector(request.query.get("fieldSelector", ""), _EVENT_FIELDS)
    out = []
    owners = [*ctl.list_isvcs(ns), *ctl.list_isvcs(ns, kind=GRAPH_KIND)]
    for owner in owners:
        meta, kind = owner.get("metadata", {}), owner.get("kind", "InferenceService")
        key = (meta.get("namespace", "default"), meta.get("name", ""))
        uid = hub.stamp(key, {"metadata": {}})["metadata"]["uid"]
        for i, event in enumerate(ctl.recent_events(*key, kind=kind)):
            obj = event_object(event, i, uid, owner.get("apiVersion", ""), kind)
            seen = {
                "involvedObject.name": key[1],
                "involvedObject.namespace": key[0],
                "involvedObject.kind": kind,
                "involvedObject.uid": uid,
                "involvedObject.apiVersion": obj["involvedObject"]["apiVersion"],
                "metadata.namespace": key[0],
                "metadata.name": obj["metadata"]["name"],
                "reason": event.reason,
                "type": event.type,
            }
            if fields_match(fields, seen):
                out.append(obj)
    return out


async def _list_events(request: web.Request) -> web.Response:
    items = _events(request, request.match_info.get("ns"))
    if wants_table_output(request):
        return web.json_response(table("events", items, now=request.app[NOW]()))
    body = {"apiVersion": "v1", "kind": "EventList", "metadata": {"resourceVersion": "1"},
            "items": items}  # fmt: skip
    return web.json_response(body)


def core_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/namespaces", _list_namespaces),
        web.get("/api/v1/namespaces/{name}", _get_namespace),
        web.get("/api/v1/events", _list_events),
        web.get("/api/v1/namespaces/{ns}/events", _list_events),
    ]
