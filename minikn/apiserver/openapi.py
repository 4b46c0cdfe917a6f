"""The OpenAPI 3 document of the control-plane API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from minikn.api.convert import V1ALPHA2, V1BETA1
from minikn.api.graph import GRAPH_API_VERSION, GRAPH_KIND

__all__ = ["openapi_document"]

_YAML_OR_JSON = {
    "required": True,
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/InferenceService"}},
    },
}


def _resp(description: str, schema: str = "InferenceService") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_ERRORS = {
    "400": _resp(
        "Invalid document (the message names the document, the field and the rule)", "Status"
    ),
    "401": _resp("Missing or wrong bearer token", "Status"),
    "404": _resp("No such InferenceService", "Status"),
}
_NS = {"name": "ns", "in": "path", "required": True, "schema": {"type": "string"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _isvc_paths(
    api_version: str, kind: str = "InferenceService", plural: str = "inferenceservices"
) -> dict[str, Any]:
    base = f"/apis/{api_version}/namespaces/{{ns}}/{plural}"
    return {
        base: {
            "parameters": [_NS],
            "get": {
                "summary": f"List {api_version} {kind}s in a namespace",
                "responses": {"200": _resp("The list", f"{kind}List"), **_ERRORS},
            },
            "post": {
                "summary": f"Create an {kind} (409 when the name exists)",
                "requestBody": _YAML_OR_JSON,
                "responses": {
                    "201": _resp("Created", kind),
                    "409": _resp("Already exists", "Status"),
                    **_ERRORS,
                },
            },
        },
        base + "/{name}": {
            "parameters": [_NS, _NAME],
            "get": {
                "summary": "Read one",
                "responses": {"200": _resp(f"The {kind}", kind), **_ERRORS},
            },
            "put": {
                "summary": "Replace one (a spec change creates new revisions)",
                "requestBody": _YAML_OR_JSON,
                "responses": {"200": _resp("Replaced", kind), **_ERRORS},
            },
            "delete": {
                "summary": "Delete one with its revisions",
                "responses": {"200": _resp("Deleted", "Status"), **_ERRORS},
            },
        },
    }


_OBJECT = {"type": "object", "additionalProperties": True}
_MULTI_DOC = {
    "required": True,
    "content": {"application/yaml": {"schema": {"type": "string"}}},
}


def _schemas() -> dict[str, Any]:
    return {
        "InferenceService": _OBJECT,
        "InferenceServiceList": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": _OBJECT}},
        },
        GRAPH_KIND: _OBJECT,
        f"{GRAPH_KIND}List": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": _OBJECT}},
        },
        "Status": {
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "status": {"type": "string"},
                "message": {"type": "string"},
                "reason": {"type": "string"},
                "code": {"type": "integer"},
                "error": {"type": "string"},
            },
        },
        "Results": _OBJECT,
    }


def _kserve_paths() -> dict[str, Any]:
    """The Kubernetes-style InferenceService resources, in both API versions, and the
    InferenceGraphs."""
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "ok"}},
            }
        },
        f"/apis/{V1BETA1}/inferenceservices": {
            "get": {
                "summary": "List InferenceServices in every namespace",
                "responses": {"200": _resp("The list", "InferenceServiceList")},
            }
        },
        **_isvc_paths(V1BETA1),
        **_isvc_paths(V1ALPHA2),
        f"/apis/{GRAPH_API_VERSION}/inferencegraphs": {
            "get": {
                "summary": "List InferenceGraphs in every namespace",
                "responses": {"200": _resp("The list", f"{GRAPH_KIND}List")},
            }
        },
        **_isvc_paths(GRAPH_API_VERSION, GRAPH_KIND, "inferencegraphs"),
    }


def _minikn_paths() -> dict[str, Any]:
    """minikn's own endpoints: multi-document apply/validate, revisions, events, settings."""
    return {
        "/api/v1/config": {
            "get": {
                "summary": "The running platform's settings (Knative's and KServe's key names)",
                "responses": {"200": {"description": "Every configuration group"}, **_ERRORS},
            }
        },
        "/api/v1/apply": {
            "post": {
                "summary": "Apply a multi-document YAML stream (all or nothing)",
                "requestBody": _MULTI_DOC,
                "responses": {"200": _resp("What each document did", "Results"), **_ERRORS},
            }
        },
        "/api/v1/validate": {
            "post": {
                "summary": "Validate documents without applying them",
                "requestBody": _MULTI_DOC,
                "responses": {"200": _resp("One verdict per document", "Results")},
            }
        },
        "/api/v1/namespaces/{ns}/inferenceservices/{name}/revisions": {
            "parameters": [_NS, _NAME],
            "get": {
                "summary": "Revisions with traffic share, readiness and failure",
                "responses": {"200": _resp("Revisions", "Results"), **_ERRORS},
            },
        },
        "/api/v1/namespaces/{ns}/inferenceservices/{name}/events": {
            "parameters": [_NS, _NAME],
            "get": {
                "summary": "Recent events",
                "responses": {"200": _resp("Events", "Results"), **_ERRORS},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "minikn control plane",
            "version": "0.1.0",
            "description": "InferenceServices, revisions and events of a local KServe emulator.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
        "security": [{"bearer": []}],
        "paths": {**_kserve_paths(), **_minikn_paths()},
    }
