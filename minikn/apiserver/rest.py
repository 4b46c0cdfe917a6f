"""The control-plane REST API (aiohttp): the Kubernetes API (``minikn.apiserver.kube``: ISVCs,
InferenceGraphs, discovery, Knative's view) plus minikn's own paths.

Errors are Kubernetes ``Status`` objects that also carry KServe's ``{"error": ...}`` key. When a
token is configured every path but ``/healthz`` and the dashboard's static files (``GET
/dashboard/...``, which hold no data) needs ``Authorization: Bearer <token>`` (``minikn serve``
always configures one).

Whoever can drive this API can run containers and processes on the host, so a request a web page
could make is refused whatever the token says (the README's security section says why):

- ``Host`` must name the address the API is bound to (or a loopback name for it) unless the API
  listens beyond loopback, where the token protects: DNS rebinding is refused with 403;
- a mutating request (POST, PUT, PATCH, DELETE) is refused with 403 when it carries an
  ``Origin`` other than the API's own on loopback (beyond loopback: any ``Origin`` not listed
  in ``minikn.api.allowedOrigins``, since a rebound page's Origin equals its Host), or a
  content type a form can send without a CORS preflight (``text/plain``,
  ``application/x-www-form-urlencoded``, ``multipart/form-data``), or a body with no content
  type at all.

Request bodies are bounded (``minikn.api``: 3 MiB, node count with aliases expanded, depth) and
parsed off the event loop (large ones in another process, ``apiserver.parsing``), so a hostile
document neither fills memory nor stalls the data path.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikn.api.documents import Document
from minikn.api.graph import GRAPH_KIND
from minikn.apiserver.bodies import parse_apply_documents, parse_raw_documents, read_body
from minikn.apiserver.heads import HEADS, BodyHeads
from minikn.apiserver.kube.context import EPOCH
from minikn.apiserver.kube.install import install_kube_api
from minikn.apiserver.kube.objects import KubeError, status_body
from minikn.apiserver.openapi import openapi_document
from minikn.apiserver.parsing import PARSER, BodyParser
from minikn.config.api import ApiConfig
from minikn.controlplane.controller import Controller, validate_documents
from minikn.core.errors import (
    MiniknError,
    PermanentError,
    RetryableError,
    Unauthorized,
    error_body,
    http_status,
)

__all__ = [
    "CONTROLLER",
    "TOKEN_ENV",
    "Forbidden",
    "check_bind",
    "create_api_app",
    "is_loopback",
    "origin_allowed",
]

log = logging.getLogger("minikn.apiserver.rest")

CONTROLLER = web.AppKey("controller", Controller)
TOKEN = web.AppKey("token", str)
BIND_HOST = web.AppKey("bind_host", str)
"""A random id per API app: continue tokens of an earlier start are refused (410 Expired)."""
TOKEN_ENV = "MINIKN_API_TOKEN"
_PUBLIC = frozenset({"/healthz"})
_ASSETS = "/dashboard"
"""The dashboard's static files: no token (they hold no data), the Host check still applies."""
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The content types a <form> or a no-cors fetch sends cross-site without a CORS preflight.
_FORM_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
_JSON_TYPES = frozenset({"application/json", "application/merge-patch+json"})
_REASONS = {
    400: "Invalid",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    503: "ServiceUnavailable",
    507: "InsufficientStorage",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Forbidden(PermanentError):
    """A request a web page could have made (foreign Origin or Host, form content type): 403."""

    status = 403


class StorageFailed(RetryableError):
    """The state could not be written (disk full: 507, anything else: 503); nothing changed."""

    status = 503


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
    if isinstance(exc, KubeError):
        return web.json_response(status_body(exc.status, exc.message, exc.reason, exc.details),
                                 status=exc.status)  # fmt: skip
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


def _loopback_names(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


def _check_host(request: web.Request, bind_host: str, token: str) -> None:
    """Refuse a ``Host`` that is not this API's address (DNS rebinding)."""
    if token and not is_loopback(bind_host):
        return  # listening beyond loopback: clients use any name for it, the token protects
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = int(sockname[1]) if sockname else 0
    allowed = _loopback_names(port)
    literal = f"[{bind_host}]" if ":" in bind_host else bind_host
    allowed.add(f"{literal}:{port}")
    if port == 80:
        allowed |= {"127.0.0.1", "localhost", "[::1]", literal}
    host = request.headers.get("Host", "").lower()
    if host not in allowed:
        raise Forbidden(
            f"Host {host[:100]!r} is not this API's address (one of {', '.join(sorted(allowed))}); "
            "requests through another name are refused (DNS rebinding)"
        )


def origin_allowed(origin: str, *, own: str, bind_host: str, allowed: list[str]) -> bool:
    """Whether a mutating request with this ``Origin`` may proceed: one listed in
    ``minikn.api.allowedOrigins``, or the API's own while it listens on loopback only (its
    ``Host`` was checked, so "own" means a loopback name). Bound beyond loopback the ``Host``
    is not checked, and a DNS-rebound page's Origin equals its ``Host``: only listed ones pass."""
    given = origin.strip().rstrip("/").lower()
    if given in allowed:
        return True
    return is_loopback(bind_host) and given == own.lower()


def _check_cross_site(request: web.Request, bind_host: str, allowed: list[str]) -> None:
    """Refuse a mutating request that a web page could have sent."""
    if request.method not in _MUTATING:
        return
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    if origin is not None and not origin_allowed(
        origin, own=own, bind_host=bind_host, allowed=allowed
    ):
        where = (
            "is not this API's own"
            if is_loopback(bind_host)
            else f"is not listed in minikn.api.allowedOrigins (the API listens on {bind_host}, "
            "where a page's own Origin proves nothing: DNS rebinding)"
        )
        raise Forbidden(f"Origin {origin[:100]!r} {where}: cross-site requests are refused")
    declared = "Content-Type" in request.headers
    if declared and request.content_type in _FORM_TYPES:
        raise Forbidden(
            f"Content-Type {request.content_type} is refused (a web page can send it "
            "cross-site): send application/json or application/yaml"
        )
    # Over TLS a body without a type is JSON, as Kubernetes reads it (the kubernetes Python
    # client sends none): a web page cannot reach the TLS listener, whose self-signed
    # certificate a browser refuses.
    if not declared and not request.secure and (request.content_length or request.body_exists):
        raise Forbidden(
            "a body without a Content-Type is refused: send application/json or application/yaml"
        )


def _is_asset(request: web.Request) -> bool:
    path = request.path
    return request.method in ("GET", "HEAD") and (path == _ASSETS or path.startswith(_ASSETS + "/"))


def _check_token(request: web.Request, token: str) -> None:
    given = request.headers.get("Authorization", "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <token>)")


def _storage_error(exc: OSError) -> StorageFailed:
    err = StorageFailed(
        f"cannot save the control-plane state: {exc.strerror or exc}; nothing was changed"
    )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        err.status = 507
    return err


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path not in _PUBLIC or request.method not in ("GET", "HEAD"):
            token, bind_host = request.app[TOKEN], request.app[BIND_HOST]
            allowed = request.app[CONTROLLER].settings.minikn.api.allowed_origins
            _check_host(request, bind_host, token)
            _check_cross_site(request, bind_host, allowed)
            if token and not _is_asset(request):
                _check_token(request, token)
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
    except OSError as exc:
        log.error("%s %s: cannot save the state: %s", request.method, request.path, exc)
        return status_response(_storage_error(exc))
    except Exception as exc:
        log.exception("%s %s failed", request.method, request.path)
        return status_response(exc)


async def _sized_documents(request: web.Request) -> tuple[list[Document], int]:
    """The body's documents and its length in characters."""
    limits: ApiConfig = request.app[CONTROLLER].settings.minikn.api
    raw = await read_body(request, limits.max_body_bytes)
    as_json = request.content_type in _JSON_TYPES
    return await parse_raw_documents(request, raw, limits, as_json=as_json)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


async def _apply(request: web.Request) -> web.Response:
    """Apply the body's documents. A body equal to a recent one is first checked against the
    store from the documents' heads alone: when every document is what is stored, nothing is
    parsed (``kubectl apply`` of unchanged objects costs almost nothing)."""
    ctl = request.app[CONTROLLER]
    limits = ctl.settings.minikn.api
    raw = await read_body(request, limits.max_body_bytes)
    as_json = request.content_type in _JSON_TYPES
    known = request.app[HEADS].get(raw, request.charset, as_json)
    results = None if known is None else ctl.apply_unchanged(known)
    if results is None:
        settings = ctl.settings if ctl.prevalidates else None
        docs, checked = await parse_apply_documents(
            request, raw, limits, as_json=as_json, settings=settings
        )
        request.app[HEADS].put(raw, request.charset, as_json, docs)
        results = await ctl.apply(docs, prevalidated=checked)
    return _json({"results": [r.as_dict() for r in results]})


async def _validate(request: web.Request) -> web.Response:
    ctl = request.app[CONTROLLER]
    docs, size = await _sized_documents(request)
    # Validating a large body costs about as much as parsing it: off the loop the same way.
    checked = await request.app[PARSER].run(size, validate_documents, docs, ctl.settings)
    out = [{"document": d.where(), "valid": err is None, "error": err} for d, err in checked]
    return _json({"valid": all(e["valid"] for e in out), "documents": out})


def _kind(request: web.Request) -> str:
    return GRAPH_KIND if request.match_info["plural"] == "inferencegraphs" else "InferenceService"


async def _revisions(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    return _json({"items": request.app[CONTROLLER].revision_states(ns, name, kind=_kind(request))})


async def _events(request: web.Request) -> web.Response:
    ns, name = request.match_info["ns"], request.match_info["name"]
    events = request.app[CONTROLLER].recent_events(ns, name, kind=_kind(request))
    return _json({"items": [e.model_dump(mode="json") for e in events]})


async def _healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _config(request: web.Request) -> web.Response:
    """The running platform's settings (every group, Knative's and KServe's key names)."""
    return _json(request.app[CONTROLLER].settings.model_dump(by_alias=True, mode="json"))


async def _openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def create_api_app(
    controller: Controller, *, token: str | None = None, bind_host: str = "127.0.0.1"
) -> web.Application:
    """The API application; the caller may add routes (``/metrics``) before starting it.

    ``bind_host`` is the address it will listen on: the ``Host`` header is checked against it.
    """
    limit = controller.settings.minikn.api.max_body_bytes
    app = web.Application(middlewares=[_errors], client_max_size=limit)
    app[CONTROLLER] = controller
    app[TOKEN] = token or ""
    app[BIND_HOST] = bind_host
    app[EPOCH] = secrets.token_hex(8)
    install_kube_api(app, controller)
    api = controller.settings.minikn.api
    parser = BodyParser(workers=api.parse_workers, process_bytes=api.parse_in_process_bytes)
    app[PARSER] = parser
    app[HEADS] = BodyHeads()

    async def close_parser(app: web.Application) -> None:
        parser.close()

    app.on_cleanup.append(close_parser)
    app.add_routes(
        [
            web.get("/healthz", _healthz),
            web.get("/openapi.json", _openapi),
            web.post("/api/v1/apply", _apply),
            web.post("/api/v1/validate", _validate),
            web.get("/api/v1/config", _config),
            web.get(
                "/api/v1/namespaces/{ns}/{plural:inferenceservices|inferencegraphs}/{name}/revisions",
                _revisions,
            ),
            web.get(
                "/api/v1/namespaces/{ns}/{plural:inferenceservices|inferencegraphs}/{name}/events",
                _events,
            ),
        ]
    )
    return app
