"""OpenAPI v2 and v3 documents for kubectl: validation support, patch types and ``explain``.

The InferenceService and InferenceGraph schemas are generated from minikn's own pydantic models
(``minikn.api.schema``, ``minikn.api.graph``), so ``kubectl explain
inferenceservice.spec.predictor`` and ``kubectl explain inferencegraph.spec.nodes`` show exactly
what admission accepts. PATCH operations declare the ``fieldValidation`` parameter (kubectl then
leaves validation to the server, which refuses unknown fields) and, as for every custom
resource, no strategic merge patch (kubectl's client-side apply then sends a JSON merge patch).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from minikn.api.graph import GRAPH_API_VERSION, InferenceGraph
from minikn.api.schema import InferenceService

__all__ = ["gv_document", "openapi_routes", "schema_components", "v2_document", "v3_index"]


@dataclass(frozen=True)
class _Kind:
    kind: str
    plural: str
    model: type[BaseModel]
    description: str
    typed_spec: bool
    """False: the spec is described as a free object (v1alpha2, converted by admission)."""


_ISVC_DOC = "InferenceService is the Schema for the InferenceServices API (served by minikn)"
_GRAPH_DOC = "InferenceGraph is the Schema for the InferenceGraph API for multiple models"
_KINDS: dict[str, _Kind] = {
    "serving.kserve.io/v1beta1": _Kind(
        "InferenceService", "inferenceservices", InferenceService, _ISVC_DOC, True
    ),
    "serving.kubeflow.org/v1alpha2": _Kind(
        "InferenceService", "inferenceservices", InferenceService, _ISVC_DOC, False
    ),
    GRAPH_API_VERSION: _Kind("InferenceGraph", "inferencegraphs", InferenceGraph, _GRAPH_DOC, True),
}
"""Each group version's kind (one per group version here), with the model its schema comes from."""
_GVS = tuple(_KINDS)
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
_META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_STATUS_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"


def _prefix(gv: str) -> str:
    group, version = gv.split("/")
    return ".".join(reversed(group.split("."))) + "." + version


def _clean(node: Any, ref_base: str, prefix: str) -> Any:
    """Pydantic's JSON schema as OpenAPI: no titles, optionals as their type, refs renamed."""
    if isinstance(node, list):
        return [_clean(n, ref_base, prefix) for n in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        kept = [n for n in node["anyOf"] if n != {"type": "null"}]
        if len(kept) == 1:
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
            return _clean({**rest, **kept[0]}, ref_base, prefix)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs") or (key == "default" and value is None):
            continue
        if key == "$ref" and isinstance(value, str):
            name = value.rsplit("/", 1)[-1]
            ref = _META_REF if name == "ObjectMeta" else f"{prefix}.{name}"
            return {
                "allOf": [{"$ref": ref_base + ref}],
                **{k: v for k, v in node.items() if k not in ("$ref", "title")},
            }
        out[key] = _clean(value, ref_base, prefix)
    return out


@functools.cache
def _pydantic_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)


def schema_components(gv: str, ref_base: str) -> dict[str, Any]:
    """The schemas of the group version's kind, named as Kubernetes names them, with their GVK
    extension."""
    group, version = gv.split("/")
    prefix = _prefix(gv)
    served = _KINDS[gv]
    kind = served.kind
    raw = _pydantic_schema(served.model)
    out: dict[str, Any] = {
        f"{prefix}.{name}": _clean(d, ref_base, prefix)
        for name, d in raw["$defs"].items()
        if name != "ObjectMeta"
    }
    top = _clean({k: v for k, v in raw.items() if k != "$defs"}, ref_base, prefix)
    top.pop("additionalProperties", None)
    top["description"] = served.description
    top["properties"]["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation "
        "of an object.",
    }
    top["properties"]["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this "
        "object represents.",
    }
    top["properties"]["status"] = {
        "type": "object",
        "description": f"{kind}Status defines the observed state of {kind}",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    if not served.typed_spec:
        top["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    top["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
    out[f"{prefix}.{kind}"] = top
    out[f"{prefix}.{kind}List"] = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": f"{ref_base}{prefix}.{kind}"}},
            "metadata": {"type": "object"},
        },
        "x-kubernetes-group-version-kind": [
            {"group": group, "kind": f"{kind}List", "version": version}
        ],
    }
    out[_META_REF] = {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "generateName": {"type": "string"},
            "uid": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "managedFields": {"type": "array", "items": {"type": "object"}},
        },
    }
    out[_STATUS_REF] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return out


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": {"type": "string"},
        "uniqueItems": True,
    }


def _v3_paths(gv: str) -> dict[str, Any]:
    group, version = gv.split("/")
    kind, plural = _KINDS[gv].kind, _KINDS[gv].plural
    gvk = {"group": group, "version": version, "kind": kind}
    ref = {"$ref": f"#/components/schemas/{_prefix(gv)}.{kind}"}
    body = {"content": {"application/json": {"schema": ref}, "application/yaml": {"schema": ref}}}
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
    common = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    base = f"/apis/{gv}/namespaces/{{namespace}}/{plural}"
    ns = _param("namespace", "path", True)
    name = _param("name", "path", True)

    def op(action: str, **extra: Any) -> dict[str, Any]:
        return {
            "responses": ok,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            **extra,
        }

    patch_body = {"content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}}
    return {
        f"/apis/{gv}/{plural}": {"get": op("list")},
        base: {
            "parameters": [ns],
            "get": op("list"),
            "post": op("post", requestBody=body, parameters=common),
        },
        base + "/{name}": {
            "parameters": [ns, name],
            "get": op("get"),
            "put": op("put", requestBody=body, parameters=common),
            "patch": op("patch", requestBody=patch_body, parameters=[*common, _param("force")]),
            "delete": op("delete"),
        },
        base + "/{name}/status": {
            "parameters": [ns, name],
            "get": op("get"),
            "put": op("put", requestBody=body, parameters=common),
            "patch": op("patch", requestBody=patch_body, parameters=[*common, _param("force")]),
        },
    }


@functools.cache
def gv_document(gv: str) -> str:
    """The OpenAPI 3 document of one group version (JSON text)."""
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "minikn", "version": gv},
        "paths": _v3_paths(gv),
        "components": {"schemas": schema_components(gv, "#/components/schemas/")},
    }
    return json.dumps(doc)


def v3_index() -> dict[str, Any]:
    paths = {}
    for gv in _GVS:
        digest = hashlib.sha256(gv_document(gv).encode()).hexdigest()[:32].upper()
        paths[f"apis/{gv}"] = {"serverRelativeURL": f"/openapi/v3/apis/{gv}?hash={digest}"}
    return {"paths": paths}


@functools.cache
def v2_document() -> str:
    """Swagger 2.0 with the ISVC and graph definitions (kubectl's fallback when v3 is missing)."""
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for gv in _GVS:
        definitions.update(schema_components(gv, "#/definitions/"))
        for path, item in _v3_paths(gv).items():
            v2_item: dict[str, Any] = {}
            for method, op in item.items():
                if method == "parameters":
                    v2_item[method] = [
                        {k: v for k, v in p.items() if k != "schema"} | {"type": "string"}
                        for p in op
                    ]
                    continue
                params = [
                    {k: v for k, v in p.items() if k != "schema"} | {"type": "string"}
                    for p in op.get("parameters", [])
                ]
                v2_item[method] = {
                    "consumes": list(
                        op.get("requestBody", {}).get("content", {"application/json": 0})
                    ),
                    "produces": ["application/json"],
                    "parameters": params,
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": op["x-kubernetes-action"],
                    "x-kubernetes-group-version-kind": op["x-kubernetes-group-version-kind"],
                }
            paths[path] = v2_item
    doc = {
        "swagger": "2.0",
        "info": {"title": "minikn", "version": "v2"},
        "paths": paths,
        "definitions": definitions,
    }
    return json.dumps(doc)


async def _v3_root(request: web.Request) -> web.Response:
    return web.json_response(v3_index())


async def _v3_gv(request: web.Request) -> web.Response:
    gv = f"{request.match_info['group']}/{request.match_info['version']}"
    if gv not in _KINDS:
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": f"no OpenAPI document for {gv[:100]}",
            },
            status=404,
        )
    return web.Response(text=gv_document(gv), content_type="application/json")


async def _v2(request: web.Request) -> web.Response:
    return web.Response(text=v2_document(), content_type="application/json")


def openapi_routes() -> list[web.RouteDef]:
    return [
        web.get("/openapi/v2", _v2),
        web.get("/openapi/v3", _v3_root),
        web.get("/openapi/v3/apis/{group}/{version}", _v3_gv),
    ]
