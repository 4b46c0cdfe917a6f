"""The control-plane REST API (aiohttp): Kubernetes-style ISVC paths plus minikn's own.

Errors are Kubernetes ``Status`` objects that also carry KServe's ``{"error": ...}`` key. When a
token is configured every path but ``/healthz`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikn.api.convert import V1ALPHA2, V1BETA1
from minikn.api.documents import Document, parse_text
from minikn.apiserver.openapi import openapi_document
from minikn.controlplane.controller import Controller, validate_documents
from minikn.core.errors import (
    InvalidInput,
    MiniknError,
    PermanentError,
    Unauthorized,
    error_body,
    http_status,
)

__all__ = ["CONTROLLER", "TOKEN_ENV", "check_bind", "create_api_app", "is_loopback"]

log = logging.getLogger("minikn.apiserver.rest")

CONTROLLER = web.AppKey("controller", Controller)
TOKEN = web.AppKey("token", str)
TOKEN_ENV = "MINIKN_API_TOKEN"
_PUBLIC = frozenset({"/healthz"})
_REASONS = {400: "Invalid", 401: "Unauthorized", 404: "NotFound", 409: "AlreadyExists"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve the API beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise PermanentError(
            f"the API would listen on {host} without authentication: set {TOKEN_ENV} "
            "(clients send it as 'Authorization: Bearer <token>') or bind 127.0.0.1"
        )


def status_response(exc: BaseException) -> web.Response:
    code = http_status(exc)
    message = exc.message if isinstance(exc, MiniknError) else str(error_body(exc)["error"])
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "InternalError"),
        "code": code,
        **error_body(exc),
    }
    return web.json_response(body, status=code)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        token = request.app[TOKEN]
        if token and request.path not in _PUBLIC:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)")
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):  # unknown path or method: a Status body like every error
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"{exc.reason}: {request.method} {request.path}",
                "reason": "NotFound" if exc.status == 404 else "MethodNotAllowed",
                "code": exc.status,
                "error": f"{exc.reason}: {request.method} {request.path}",
            }
            return web.json_response(body, status=exc.status)
        raise
    except MiniknError as exc:
        return status_response(exc)
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return status_response(exc)


async def _documents(request: web.Request) -> list[Document]:
    text = await request.text()
    if not text.strip():
        raise InvalidInput("the request body is empty: send YAML or JSON documents")
    docs = parse_text(text, "<request>")
    # The CLI sends {"documents": [{"source", "index", "body"}]} so messages name the user's files.
    if len(docs) == 1 and isinstance(docs[0].body, dict) and set(docs[0].body) == {"documents"}:
        items = docs[0].body["documents"]
        if not isinstance(items, list):
            raise InvalidInput("documents: must be a list")
        return [
            Document(
                str(d.get("source", "<request>")),
                int(d.get("index", i)),
                d.get("body"),
                d.get("error"),
            )
            for i, d in enumerate(items)
            if isinstance(d, dict)
        ]
    return docs


def _single(docs: list[Document], request: web.Request, api_version: str) -> Document:
    if len(docs) != 1:
        raise InvalidInput(
            f"expected exactly one document, got {len(docs)} (use POST /api/v1/apply)"
        )
    doc = docs[0]
    if doc.error is not None or not isinstance(doc.body, dict):
        raise InvalidInput(f"{doc.where()}: {doc.error or 'the body must be a mapping'}")
    if doc.body.get("apiVersion") != api_version:
        raise InvalidInput(
            f"{doc.where()}: apiVersion: {doc.body.get('apiVersion')!r} does not match the path "
            f"({api_version})"
        )
    ns = request.match_info["ns"]
    meta = doc.body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise InvalidInput(f"{doc.where()}: metadata: must be a mapping")
    if meta.get("namespace", ns) != ns:
        raise InvalidInput(
            f"{doc.where()}: metadata.namespace: {meta['namespace']!r} does not match "
            f"the path ({ns})"
        )
    meta["namespace"] = ns
    return doc


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _routes(api_version: str) -> list[web.RouteDef]:
    base = f"/apis/{api_version}/namespaces/{{ns}}/inferenceservices"

    async def list_ns(request: web.Request) -> web.Response:
        items = request.app[CONTROLLER].list_isvcs(request.match_info["ns"])
        return _json({"apiVersion": api_version, "kind": "InferenceServiceList", "items": items})

    async def create(request: web.Request) -> web.Response:
        ctl = request.app[CONTROLLER]
        doc = _single(await _documents(request), request, api_version)
        [result] = await ctl.apply([doc], create_only=True)
        return _json(ctl.get(result.namespace, result.name), status=201)

    async def get(request: web.Request) -> web.Response:
        return _json(
            request.app[CONTROLLER].get(request.match_info["ns"], request.match_info["name"])
        )

    async def replace(request: web.Request) -> web.Response:
        ctl = request.app[CONTROLLER]
        ns, name = request.match_info["ns"], request.match_info["name"]
        doc = _single(await _documents(request), request, api_version)
        if doc.name != name:
            raise InvalidInput(
                f"{doc.where()}: metadata.name: must be {name!r} (the name in the path)"
            )
        ctl.get(ns, name)  # PUT replaces an existing object: 404 otherwise
        await ctl.apply([doc])
        return _json(ctl.get(ns, name))

    async def delete(request: web.Request) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        await request.app[CONTROLLER].delete(ns, name)
        return _json(
            {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}
        )

    return [
        web.get(base, list_ns),
        web.post(base, create),
        web.get(base + "/{name}", get),
        web.put(base + "/{name}", replace),
        web.delete(base + "/{name}", delete),
    ]


async def _list_all(request: web.Request) -> web.Response:
    items = request.app[CONTROLLER].list_isvcs(None)
    return _json({"apiVersion": V1BETA1, "kind": "InferenceServiceList", "items": items})


async def _apply(request: web.Request) -> web.Response:
    ctl = request.app[CONTROLLER]
    results = await ctl.apply(await _documents(request))
    return _json({"results": [r.as_dict() for r in results]})


async def _validate(request: web.Request) -> web.Response:
    ctl = request.app[CONTROLLER]
    checked = validate_documents(await _documents(request), ctl.settings)
    out = [{"document": d.where(), "valid": err is None, "error": err} for d, err in checked]
    return _json({"valid": all(e["valid"] for e in out), "documents": out})


async def _revisions(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    return _json({"items": request.app[CONTROLLER].revision_states(ns, name)})


async def _events(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    events = request.app[CONTROLLER].recent_events(ns, name)
    return _json({"items": [e.model_dump(mode="json") for e in events]})


async def _healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def create_api_app(controller: Controller, *, token: str | None = None) -> web.Application:
    """The API application; the caller may add routes (``/metrics``) before starting it."""
    app = web.Application(middlewares=[_errors], client_max_size=16 * 1024 * 1024)
    app[CONTROLLER] = controller
    app[TOKEN] = token or ""
    app.add_routes(
        [
            web.get("/healthz", _healthz),
            web.get("/openapi.json", _openapi),
            web.get(f"/apis/{V1BETA1}/inferenceservices", _list_all),
            *_routes(V1BETA1),
            *_routes(V1ALPHA2),
            web.post("/api/v1/apply", _apply),
            web.post("/api/v1/validate", _validate),
            web.get("/api/v1/namespaces/{ns}/inferenceservices/{name}/revisions", _revisions),
            web.get("/api/v1/namespaces/{ns}/inferenceservices/{name}/events", _events),
        ]
    )
    return app
