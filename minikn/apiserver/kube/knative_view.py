"""Knative's view of minikn, read-only: ``serving.knative.dev/v1`` Services, Configurations,
Routes and Revisions derived from each ISVC's revisions and traffic (list, get, watch, Table
output); writes answer 405 MethodNotAllowed, since minikn's controller owns them.

The derived objects carry their ISVC's ``resourceVersion``; a watch re-derives an ISVC's objects
when it changes and sends ADDED, MODIFIED or DELETED for those that appeared, changed or went.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from minikn.apiserver.kube.context import (
    HUB,
    KCTL,
    NOW,
    fields_match,
    parse_field_selector,
    wants_table_output,
)
from minikn.apiserver.kube.hub import Change
from minikn.apiserver.kube.knative_objects import API_VERSION, KINDS, knative_objects
from minikn.apiserver.kube.objects import KubeError, labels_match, parse_label_selector
from minikn.apiserver.kube.table import table
from minikn.apiserver.kube.watch import stream_watch
from minikn.core.errors import NotFound

__all__ = ["knative_routes"]

_GROUP = API_VERSION.split("/", 1)[0]
_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_PLURALS = "|".join(KINDS)
Key = tuple[str, str]


def _of_isvc(request: web.Request, key: Key, plural: str) -> list[dict[str, Any]]:
    """The ``plural`` objects of the ISVC ``key`` (none when it is gone)."""
    ctl, hub = request.app[KCTL], request.app[HUB]
    try:
        isvc = hub.stamp(key, ctl.get(*key))
        rows = ctl.revision_states(*key)
    except NotFound:
        return []
    return knative_objects(isvc, rows, uid=isvc["metadata"]["uid"])[plural]


class _Selection:
    """What one request asks for: a resource, a namespace (None: all), label and field
    selectors."""

    def __init__(self, request: web.Request) -> None:
        self.plural = request.match_info["plural"]
        self.ns: str | None = request.match_info.get("ns")
        self.labels = parse_label_selector(request.query.get("labelSelector", ""))
        self.fields = parse_field_selector(request.query.get("fieldSelector", ""), _FIELDS)

    def keeps(self, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        seen = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"]}
        return labels_match(self.labels, meta.get("labels")) and fields_match(self.fields, seen)

    def objects(self, request: web.Request, key: Key) -> list[dict[str, Any]]:
        return [o for o in _of_isvc(request, key, self.plural) if self.keeps(o)]

    def keys(self, request: web.Request) -> list[Key]:
        isvcs = request.app[KCTL].list_isvcs(self.ns)
        return [(i["metadata"].get("namespace", "default"), i["metadata"]["name"]) for i in isvcs]


def _table(
    request: web.Request, plural: str, items: list[dict[str, Any]], rv: str, *, headers: bool = True
) -> dict[str, Any]:
    include = request.query.get("includeObject", "Metadata")
    now = request.app[NOW]()
    return table(
        plural, items, now=now, resource_version=rv, include_object=include, headers=headers
    )


async def _list(request: web.Request) -> web.StreamResponse:
    sel = _Selection(request)
    if request.query.get("watch") in ("1", "true", "True"):
        return await _watch(request, sel)
    items = [o for key in sel.keys(request) for o in sel.objects(request, key)]
    rv = str(request.app[HUB].resource_version)
    if wants_table_output(request):
        return web.json_response(_table(request, sel.plural, items, rv))
    kind = KINDS[sel.plural]
    return web.json_response({"apiVersion": API_VERSION, "kind": f"{kind}List",
                              "metadata": {"resourceVersion": rv}, "items": items})  # fmt: skip


async def _get(request: web.Request) -> web.Response:
    plural, ns, name = (request.match_info[k] for k in ("plural", "ns", "name"))
    for isvc in request.app[KCTL].list_isvcs(ns):
        key = (ns, isvc["metadata"]["name"])
        for obj in _of_isvc(request, key, plural):
            if obj["metadata"]["name"] == name:
                if wants_table_output(request):
                    rv = obj["metadata"]["resourceVersion"]
                    return web.json_response(_table(request, plural, [obj], rv))
                return web.json_response(obj)
    raise KubeError(404, "NotFound", f'{plural}.{_GROUP} "{name[:253]}" not found',
                    {"name": name[:253], "group": _GROUP, "kind": plural})  # fmt: skip


async def _watch(request: web.Request, sel: _Selection) -> web.StreamResponse:
    as_table = wants_table_output(request)
    sent: dict[Key, dict[str, tuple[str, dict[str, Any]]]] = {}
    """What this stream has sent, per ISVC: object name -> (fingerprint, object)."""
    first = [True]

    def render(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if kind == "BOOKMARK":
            return {"apiVersion": API_VERSION, "kind": KINDS[sel.plural], **obj}
        if not as_table:
            return obj
        out = _table(request, sel.plural, [obj], obj["metadata"]["resourceVersion"],
                     headers=first[0])  # fmt: skip
        first[0] = False
        return out

    def initial() -> list[dict[str, Any]]:
        out = []
        for key in sel.keys(request):
            objs = sel.objects(request, key)
            sent[key] = {o["metadata"]["name"]: (_fingerprint(o), o) for o in objs}
            out += objs
        return out

    def expand(change: Change) -> list[tuple[str, dict[str, Any]]]:
        before = sent.get(change.key, {})
        now = sel.objects(request, change.key)
        events: list[tuple[str, dict[str, Any]]] = []
        after: dict[str, tuple[str, dict[str, Any]]] = {}
        for obj in now:
            name, fp = obj["metadata"]["name"], _fingerprint(obj)
            after[name] = (fp, obj)
            if name not in before:
                events.append(("ADDED", render("ADDED", obj)))
            elif before[name][0] != fp:
                events.append(("MODIFIED", render("MODIFIED", obj)))
        for name, (_, last) in before.items():
            if name not in after:
                gone = {**last, "metadata": {**last["metadata"], "resourceVersion": str(change.rv)}}
                events.append(("DELETED", render("DELETED", gone)))
        if after:
            sent[change.key] = after
        else:
            sent.pop(change.key, None)
        return events

    return await stream_watch(
        request,
        request.app[HUB],
        accept=lambda change: (
            change.kind == "InferenceService" and (sel.ns is None or change.key[0] == sel.ns)
        ),
        initial=initial,
        render=render,
        expand=expand,
    )


def _fingerprint(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


async def _read_only(request: web.Request) -> web.Response:
    plural = request.match_info["plural"]
    raise KubeError(
        405,
        "MethodNotAllowed",
        f"{plural}.{_GROUP} is read-only in minikn: it is derived from the InferenceServices "
        f"(the server does not allow this method on the requested resource)",
        {"group": _GROUP, "kind": plural},
    )


def knative_routes() -> list[web.RouteDef]:
    root = f"/apis/{API_VERSION}"
    plural = f"{{plural:{_PLURALS}}}"
    many = f"{root}/namespaces/{{ns}}/{plural}"
    one = many + "/{name}"
    writes = [web.post(many, _read_only), web.delete(many, _read_only)]
    writes += [web.route(m, one, _read_only) for m in ("PUT", "PATCH", "DELETE")]
    writes += [web.route(m, one + "/status", _read_only) for m in ("PUT", "PATCH")]
    return [
        web.get(f"{root}/{plural}", _list),
        web.get(many, _list),
        web.get(one, _get),
        web.get(one + "/status", _get),
        *writes,
    ]
