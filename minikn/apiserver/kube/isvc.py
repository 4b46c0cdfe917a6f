"""InferenceServices and InferenceGraphs as Kubernetes serves custom resources: list/watch/get,
create, replace (optimistic concurrency), patch (merge, JSON, server-side apply), delete, the
status subresource. One handler class serves either kind (``ServedKind``).

ISVCs applied as ``serving.kubeflow.org/v1alpha2`` are served at that version and, converted,
at ``v1beta1``; ones applied as ``v1beta1`` only at ``v1beta1``. The status is the controller's:
writes to the ``status`` subresource are accepted and answered with the object as it is.
A PUT without ``metadata.resourceVersion`` replaces unconditionally (kubectl always sends one).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from minikn.api.convert import V1ALPHA2, V1BETA1, convert_v1alpha2
from minikn.api.documents import Document
from minikn.api.graph import GRAPH_API_VERSION, GRAPH_KIND
from minikn.apiserver.bodies import UnsupportedMediaType
from minikn.apiserver.kube.context import (
    EPOCH,
    HUB,
    KCTL,
    NOW,
    fields_match,
    parse_field_selector,
    read_object,
    wants_table_output,
)
from minikn.apiserver.kube.hub import Change
from minikn.apiserver.kube.objects import (
    KubeError,
    labels_match,
    parse_label_selector,
    strip_server_set,
)
from minikn.apiserver.kube.patch import json_patch, merge_patch
from minikn.apiserver.kube.table import table
from minikn.apiserver.kube.watch import stream_watch
from minikn.apiserver.paging import Page, page, parse_limit
from minikn.core.errors import NotFound

__all__ = ["GRAPHS", "ISVCS", "ServedKind", "graph_routes", "isvc_routes", "served_routes"]


@dataclass(frozen=True)
class ServedKind:
    """One kind the handlers serve: its names and the API version every object is seen at."""

    kind: str
    plural: str
    storage_version: str
    """Objects applied at another version are served there and, converted, at this one."""

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


ISVCS = ServedKind("InferenceService", "inferenceservices", V1BETA1)
GRAPHS = ServedKind(GRAPH_KIND, "inferencegraphs", GRAPH_API_VERSION)

_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_STRATEGIC = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0]


def _visible(obj: dict[str, Any], api_version: str, served: ServedKind) -> bool:
    return obj.get("kind") == served.kind and (
        api_version == served.storage_version or obj.get("apiVersion") == api_version
    )


def _view(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """``obj`` as served at ``api_version`` (v1alpha2 objects converted for v1beta1)."""
    if api_version == V1BETA1 and obj.get("apiVersion") == V1ALPHA2:
        try:
            converted = convert_v1alpha2(obj).default
        except ValueError:
            converted = {"spec": obj.get("spec")}
        out = copy.deepcopy(obj)
        out["apiVersion"], out["spec"] = V1BETA1, converted["spec"]
        return out
    return obj


def _not_found(api_version: str, plural: str, name: str) -> KubeError:
    group = _group(api_version)
    return KubeError(
        404,
        "NotFound",
        f'{plural}.{group} "{name}" not found',
        {"name": name, "group": group, "kind": plural},
    )


def _conflict(api_version: str, plural: str, name: str) -> KubeError:
    group = _group(api_version)
    return KubeError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {plural}.{group} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": plural},
    )


class _Handlers:
    """The handlers of one kind at one API version."""

    def __init__(self, api_version: str, served: ServedKind) -> None:
        self.api_version = api_version
        self.served = served
        self.plural = served.plural

    # --- reads ---------------------------------------------------------------------------------

    def _current(self, request: web.Request, ns: str, name: str) -> dict[str, Any]:
        ctl, hub = request.app[KCTL], request.app[HUB]
        try:
            obj = ctl.get(ns, name, kind=self.served.kind)
        except NotFound:
            raise _not_found(self.api_version, self.plural, name) from None
        if not _visible(obj, self.api_version, self.served):
            raise _not_found(self.api_version, self.plural, name)
        return _view(hub.stamp((ns, name), obj), self.api_version)

    def _listed(
        self, request: web.Request, ns: str | None, objs: Iterable[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """``objs`` (default: every object in ``ns``) that this version serves and the request's
        selectors match, stamped and viewed at this version."""
        ctl, hub = request.app[KCTL], request.app[HUB]
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""), _FIELDS)
        if objs is None:
            # Shared with the store below metadata and status: stamped, converted (a copy) or
            # serialised, never edited.
            objs = ctl.list_isvcs(ns, kind=self.served.kind, shared=True)
        out = []
        for obj in objs:
            meta = obj.get("metadata", {})
            key = (meta.get("namespace", "default"), meta.get("name", ""))
            if not _visible(obj, self.api_version, self.served) or not labels_match(
                labels, meta.get("labels")
            ):
                continue
            if not fields_match(fields, {"metadata.namespace": key[0], "metadata.name": key[1]}):
                continue
            out.append(_view(hub.stamp(key, obj), self.api_version))
        return out

    def _list_page(
        self, request: web.Request, ns: str | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The items of a list request (Kubernetes' ``limit``/``continue`` paging) and the list
        metadata that leads to its next page. A page without selectors renders only its own
        objects (a page of 500 among 10,000 costs 500); selectors read every object first, as
        kube-apiserver's do. Like kube-apiserver's, a page may hold fewer than ``limit`` items
        (objects not served at this version are skipped)."""
        limit, token = parse_limit(request.query)
        if limit is None and token is None:
            return self._listed(request, ns), {}
        ctl = request.app[KCTL]
        if request.query.get("labelSelector") or request.query.get("fieldSelector"):
            items = self._listed(request, ns)
            by_key = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in items}
            chosen = _page_of(request, list(by_key), limit, token)
            return [by_key[k] for k in chosen.keys], _continue(chosen)
        chosen = _page_of(request, ctl.isvc_keys(ns, kind=self.served.kind), limit, token)
        shown = self._listed(request, ns, ctl.resources(chosen.keys, shared=True))
        return shown, _continue(chosen)

    def _render(self, request: web.Request, obj: dict[str, Any]) -> dict[str, Any]:
        if wants_table_output(request):
            hub = request.app[HUB]
            return table(
                self.plural,
                [obj],
                now=request.app[NOW](),
                resource_version=str(hub.resource_version),
                include_object=request.query.get("includeObject", "Metadata"),
            )
        return obj

    async def list(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info.get("ns")
        if request.query.get("watch") in ("1", "true", "True"):
            return await self._watch(request, ns)
        hub = request.app[HUB]
        items, more = self._list_page(request, ns)
        rv = str(hub.resource_version)
        if wants_table_output(request):
            body = table(
                self.plural,
                items,
                now=request.app[NOW](),
                resource_version=rv,
                include_object=request.query.get("includeObject", "Metadata"),
            )
        else:
            body = {
                "apiVersion": self.api_version,
                "kind": self.served.list_kind,
                "metadata": {"resourceVersion": rv, **more},
                "items": items,
            }
        return web.json_response(body)

    async def _watch(self, request: web.Request, ns: str | None) -> web.StreamResponse:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""), _FIELDS)
        as_table = wants_table_output(request)
        first = [True]

        def accept(change: Change) -> bool:
            key, meta = change.key, change.object.get("metadata", {})
            return (
                (ns is None or key[0] == ns)
                and _visible(change.object, self.api_version, self.served)
                and labels_match(labels, meta.get("labels"))
                and fields_match(fields, {"metadata.namespace": key[0], "metadata.name": key[1]})
            )

        def render(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
            if kind == "BOOKMARK":
                return {"apiVersion": self.api_version, "kind": self.served.kind, **obj}
            obj = _view(obj, self.api_version)
            if not as_table:
                return obj
            out = table(
                self.plural,
                [obj],
                now=request.app[NOW](),
                resource_version=obj["metadata"].get("resourceVersion", ""),
                include_object=request.query.get("includeObject", "Metadata"),
                headers=first[0],
            )
            first[0] = False
            return out

        return await stream_watch(
            request,
            request.app[HUB],
            accept=accept,
            initial=lambda: self._listed(request, ns),
            render=render,
        )

    async def get(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        return web.json_response(self._render(request, self._current(request, ns, name)))

    # --- writes --------------------------------------------------------------------------------

    def _checked_body(self, request: web.Request, body: Any, name: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise KubeError(400, "BadRequest", "the body must be an object (a mapping)")
        kind = self.served.kind
        if body.get("apiVersion") != self.api_version or body.get("kind") != kind:
            raise KubeError(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')!s:.80}) and kind "
                f"({body.get('kind')!s:.80}) do not match the path ({self.api_version}, {kind})",
            )
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise KubeError(400, "BadRequest", "metadata: must be a mapping")
        ns = request.match_info["ns"]
        if meta.get("namespace", ns) != ns:
            raise KubeError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on "
                "the request",
            )
        meta["namespace"] = ns
        if name is not None and meta.get("name", name) != name:
            raise KubeError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        if name is not None:
            meta["name"] = name
        return body

    async def _store(self, request: web.Request, body: dict[str, Any], *, create: bool) -> None:
        """Apply ``body`` (server-set fields dropped) through the controller's admission."""
        clean = strip_server_set(body)
        doc = Document("<request>", 0, clean)
        await request.app[KCTL].apply([doc], create_only=create)

    async def create(self, request: web.Request) -> web.Response:
        body = self._checked_body(request, await read_object(request), None)
        meta = body["metadata"]
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = meta["generateName"][:57] + secrets.token_hex(3)[:5]
        name, ns = meta.get("name"), request.match_info["ns"]
        if not isinstance(name, str) or not name:
            raise KubeError(
                422, "Invalid", "metadata.name: Required value: name or generateName is required"
            )
        hub = request.app[HUB]
        async with hub.lock:
            if hub.version_of((ns, name), self.served.kind) is not None:
                group = _group(self.api_version)
                raise KubeError(
                    409,
                    "AlreadyExists",
                    f'{self.plural}.{group} "{name}" already exists',
                    {"name": name, "group": group, "kind": self.plural},
                )
            await self._store(request, body, create=True)
            hub.notify([f"{ns}/{name}"])
            hub.sync()
        return web.json_response(self._current(request, ns, name), status=201)

    async def replace(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        body = self._checked_body(request, await read_object(request), name)
        hub = request.app[HUB]
        async with hub.lock:
            current = self._current(request, ns, name)
            given = body["metadata"].get("resourceVersion")
            if given not in (None, "") and given != current["metadata"]["resourceVersion"]:
                raise _conflict(self.api_version, self.plural, name)
            await self._store(request, body, create=False)
            hub.notify([f"{ns}/{name}"])
            hub.sync()
        return web.json_response(self._current(request, ns, name))

    async def patch(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        ctype = request.content_type
        if ctype == "application/strategic-merge-patch+json":
            raise UnsupportedMediaType(_STRATEGIC, reason="UnsupportedMediaType")
        if ctype not in (
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
        ):
            raise UnsupportedMediaType(_STRATEGIC, reason="UnsupportedMediaType")
        patch = await read_object(request)
        hub = request.app[HUB]
        async with hub.lock:
            if ctype == "application/apply-patch+yaml":
                status = await self._server_side_apply(request, ns, name, patch)
            else:
                status = 200
                current = self._current(request, ns, name)
                if ctype == "application/merge-patch+json":
                    if not isinstance(patch, dict):
                        raise KubeError(400, "BadRequest", "a merge patch must be an object")
                    patched = merge_patch(current, patch)
                else:
                    patched = json_patch(current, patch)
                patched = self._checked_body(request, patched, name)
                if (
                    patched["metadata"].get("resourceVersion")
                    != current["metadata"]["resourceVersion"]
                ):
                    raise _conflict(self.api_version, self.plural, name)
                await self._store(request, patched, create=False)
            hub.notify([f"{ns}/{name}"])
            hub.sync()
        return web.json_response(self._current(request, ns, name), status=status)

    async def _server_side_apply(
        self, request: web.Request, ns: str, name: str, config: Any
    ) -> int:
        """Server-side apply for one field manager: the applied configuration's ``spec`` is the
        spec; its labels and annotations are merged into the object's. Created when absent."""
        if not request.query.get("fieldManager"):
            raise KubeError(
                422, "Invalid", "fieldManager: Required value: is required for apply patch"
            )
        config = self._checked_body(request, config, name)
        try:
            current = self._current(request, ns, name)
        except KubeError as exc:
            if exc.status != 404:
                raise
            await self._store(request, config, create=True)
            return 201
        given = config["metadata"].get("resourceVersion")
        if given not in (None, "") and given != current["metadata"]["resourceVersion"]:
            raise _conflict(self.api_version, self.plural, name)
        merged = copy.deepcopy(current)
        for key in ("labels", "annotations"):
            if isinstance(config["metadata"].get(key), dict):
                merged["metadata"][key] = {**(merged["metadata"].get(key) or {}),
                                           **config["metadata"][key]}  # fmt: skip
        for key, value in config.items():
            if key not in ("metadata", "status", "apiVersion", "kind"):
                merged[key] = value
        await self._store(request, merged, create=False)
        return 200

    async def delete(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        hub = request.app[HUB]
        async with hub.lock:
            current = self._current(request, ns, name)
            await request.app[KCTL].delete(ns, name, kind=self.served.kind)
            hub.notify([f"{ns}/{name}"])
            hub.sync()
        group = _group(self.api_version)
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": group,
                    "kind": self.plural,
                    "uid": current["metadata"]["uid"],
                },
            }
        )

    async def status_get(self, request: web.Request) -> web.Response:
        return await self.get(request)

    async def status_write(self, request: web.Request) -> web.Response:
        """The controller owns the status: a write is read (bounded) and answered with the
        object as it is."""
        await read_object(request)
        return await self.get(request)


def served_routes(api_version: str, served: ServedKind) -> list[web.RouteDef]:
    h = _Handlers(api_version, served)
    plural = served.plural
    base = f"/apis/{api_version}/namespaces/{{ns}}/{plural}"
    return [
        web.get(f"/apis/{api_version}/{plural}", h.list),
        web.get(base, h.list),
        web.post(base, h.create),
        web.get(base + "/{name}", h.get),
        web.put(base + "/{name}", h.replace),
        web.patch(base + "/{name}", h.patch),
        web.delete(base + "/{name}", h.delete),
        web.get(base + "/{name}/status", h.status_get),
        web.put(base + "/{name}/status", h.status_write),
        web.patch(base + "/{name}/status", h.status_write),
    ]


def isvc_routes(api_version: str) -> list[web.RouteDef]:
    return served_routes(api_version, ISVCS)


def graph_routes() -> list[web.RouteDef]:
    return served_routes(GRAPH_API_VERSION, GRAPHS)


def _page_of(request: web.Request, keys: list[str], limit: int | None, token: str | None) -> Page:
    """The page of the sorted ``keys`` that ``limit`` and ``token`` ask for."""
    now, epoch = request.app[KCTL].clock.time(), request.app[EPOCH]
    return page(keys, limit=limit, token=token, now=now, epoch=epoch)


def _continue(chosen: Page) -> dict[str, Any]:
    """The list metadata that leads to the page after ``chosen`` (none after the last)."""
    if chosen.continue_token is None:
        return {}
    return {"continue": chosen.continue_token, "remainingItemCount": chosen.remaining}
