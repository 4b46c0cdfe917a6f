"""The built-in model server's REST face: KServe's V1 and V2 (Open Inference) routes on aiohttp.

Handlers are thin: read the body, decode it (``codec``), call the ``DataPlane``, encode the
result. Errors are mapped to answers in one place, ``_answering_errors`` around every route,
with the table in ``errors.http_answer`` (KServe's ``errors.py`` handlers): every error body is
``{"error": "..."}``. The port opens at once and the models load in the background
(``_background_load``), so readiness probes see 503 until they have loaded.

Where minikn answers differently from KServe's FastAPI server, on purpose:

- A known path with the wrong method is 405 with ``Allow`` (``GET /v1/models/m:predict``).
  KServe's Starlette router matches that GET to ``/v1/models/{model_name}`` and answers 404
  ``Model with name m:predict does not exist.``, which names a model nobody asked for.
- An unknown path is 404 ``{"error": "Not Found: GET /x"}`` where FastAPI writes
  ``{"detail": "Not Found"}``: clients of the protocol (tritonclient) read ``error``.
- A V2 body that fails the schema is 400, where FastAPI's validation answers 422 (see
  ``tensors.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from minikn.modelserver.codec import (
    binary_outputs,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
    encode_v2_binary,
)
from minikn.modelserver.dataplane import SERVER_NAME, SERVER_VERSION, DataPlane
from minikn.modelserver.errors import NotImplementedByModel, PayloadTooLarge, http_answer
from minikn.modelserver.metrics import StepMetrics
from minikn.modelserver.model import Model

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SERVER_NAME", "SERVER_VERSION", "ModelServer"]

log = logging.getLogger("minikn.modelserver")
_JSON = "application/json"
# The bound on a request body (aiohttp's ``client_max_size``); beyond it the answer is 413.
DEFAULT_MAX_BODY_BYTES = 256 * 2**20
# V1 routes take names without ":" so that "m:predict" is never read as a model name.
_NAME = "{name:[^{}/:]+}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type=_JSON, headers=headers
    )


def _answering_errors(handler: Handler) -> Handler:
    """Wrap a route so any exception becomes KServe's answer (``errors.http_answer``)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            status, body = http_answer(exc)
            if status >= 500:
                log.error("%s %s: %s", request.method, request.path, body["error"])
            return _json(body, status)

    return guarded


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(exc.text or "Request Entity Too Large") from exc


class ModelServer:
    """Serves a set of models; ``app()`` builds the aiohttp application."""

    def __init__(
        self, models: list[Model], *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.dataplane = DataPlane(models)
        self.max_body_bytes = max_body_bytes

    @property
    def models(self) -> dict[str, Model]:
        return self.dataplane.models

    @property
    def metrics(self) -> StepMetrics:
        return self.dataplane.metrics

    @property
    def loaded(self) -> asyncio.Event:
        return self.dataplane.loaded

    # -- lifecycle -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/", self._live_v1),
            ("GET", "/metrics", self._metrics),
            ("GET", "/v1/models", self._list),
            ("GET", f"/v1/models/{_NAME}", self._model_ready),
            ("POST", f"/v1/models/{_NAME}:predict", self._predict),
            ("POST", f"/v1/models/{_NAME}:explain", self._explain),
            ("GET", "/v2", self._v2_metadata),
            ("GET", "/v2/health/live", self._v2_live),
            ("GET", "/v2/health/ready", self._v2_ready),
            ("GET", "/v2/models", self._list),
            ("GET", "/v2/models/{name}", self._model_metadata),
            ("GET", "/v2/models/{name}/ready", self._model_ready),
            ("POST", "/v2/models/{name}/infer", self._infer),
            ("GET", "/v2/models/{name}/versions/{version}", self._versioned),
            ("GET", "/v2/models/{name}/versions/{version}/ready", self._versioned),
            ("POST", "/v2/models/{name}/versions/{version}/infer", self._versioned),
            ("POST", "/v2/repository/models/{name}/load", self._repo_load),
            ("POST", "/v2/repository/models/{name}/unload", self._repo_unload),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, _answering_errors(handler))
        # Last, so it only answers paths no route above matched (no per-request middleware cost).
        app.router.add_route("*", "/{tail:.*}", self._no_route)
        app.cleanup_ctx.append(self._background_load)
        return app

    async def _background_load(self, _app: web.Application) -> AsyncIterator[None]:
        """The initial load of every model, started with the app and cancelled at cleanup."""
        task = asyncio.create_task(self.dataplane.load_all(), name="minikn.modelserver.load")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.dataplane.close()

    async def _no_route(self, request: web.Request) -> web.Response:
        """404 for an unknown path; 405 with ``Allow`` for a known path and another method."""
        allowed: set[str] = set()
        for resource in request.app.router.resources():
            if resource is not request.match_info.route.resource:
                allowed |= (await resource.resolve(request))[1]
        if allowed:
            return _json(
                {"error": f"Method Not Allowed: {request.method} {request.path}"},
                405,
                {"Allow": ", ".join(sorted(allowed))},
            )
        return _json({"error": f"Not Found: {request.method} {request.path}"}, 404)

    # -- shared ----------------------------------------------------------------------------
    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    async def _list(self, _request: web.Request) -> web.Response:
        return _json({"models": self.dataplane.list_models()})

    async def _model_ready(self, request: web.Request) -> web.Response:
        """V1 ``GET /v1/models/{name}`` and V2 ``GET /v2/models/{name}/ready``: KServe answers
        both with ``{"name", "ready"}``."""
        name = request.match_info["name"]
        self.dataplane.pipeline(name)
        return _json({"name": name, "ready": True})

    # -- V1 --------------------------------------------------------------------------------
    async def _live_v1(self, _request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _predict(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.dataplane.pipeline(name)  # 404/503 before the body is read, as KServe
        payload = decode_v1(await _read(request))
        return _json(encode_v1(await self.dataplane.infer(name, payload, request.headers)))

    async def _explain(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.dataplane.pipeline(name)
        payload = decode_v1(await _read(request))
        return _json(encode_v1(await self.dataplane.explain(name, payload, request.headers)))

    # -- V2 --------------------------------------------------------------------------------
    async def _v2_metadata(self, _request: web.Request) -> web.Response:
        return _json(self.dataplane.metadata())

    async def _v2_live(self, _request: web.Request) -> web.Response:
        return _json({"live": self.dataplane.live()})

    async def _v2_ready(self, _request: web.Request) -> web.Response:
        self.dataplane.require_ready()
        return _json({"ready": True})

    async def _model_metadata(self, request: web.Request) -> web.Response:
        return _json(self.dataplane.model_metadata(request.match_info["name"]))

    async def _infer(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.dataplane.pipeline(name)
        body = await _read(request)
        infer = decode_v2(name, body, request.headers.get("Inference-Header-Content-Length"))
        result = await self.dataplane.infer(name, infer, request.headers)
        answer = encode_v2(result, name, infer.id)
        every, each = binary_outputs(infer)
        packed = encode_v2_binary(answer, every, each) if every or any(each.values()) else None
        if packed is None:
            return _json(answer)
        payload, header_length = packed
        return web.Response(
            body=payload,
            content_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )

    async def _versioned(self, _request: web.Request) -> web.Response:
        # KServe's v2_endpoints raise this before looking the model up.
        raise NotImplementedByModel("Model versioning not supported yet.")

    async def _repo_load(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.dataplane.load(name)
        return _json({"name": name, "load": True})

    async def _repo_unload(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.dataplane.unload(name)
        return _json({"name": name, "unload": True})
