"""The built-in model server: KServe's V1 and V2 (Open Inference) REST endpoints on aiohttp.

Bodies and status codes follow KServe's Python server (protocol/rest/v1_endpoints.py,
v2_endpoints.py, errors.py): 404 unknown model, 503 not ready, 400 bad input, 500 inference
error, 501 not implemented, every error as ``{"error": "..."}``. The port opens at once and the
model loads in the background, so readiness probes see 503 until it has loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import ClientSession, web

from minikn.modelserver.errors import (
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    NotImplementedByModel,
    error_message,
)
from minikn.modelserver.metrics import StepMetrics
from minikn.modelserver.model import Model, call_maybe_async
from minikn.modelserver.pipeline import Pipeline, v1_body, v2_body
from minikn.modelserver.tensors import parse_infer

__all__ = ["ModelServer"]

log = logging.getLogger("minikn.modelserver")
SERVER_NAME = "minikn"
SERVER_VERSION = "0.1.0"
_JSON = "application/json"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=_JSON)


def _error(exc: BaseException) -> web.Response:
    if isinstance(exc, NotImplementedError):
        return _json({"error": str(exc)}, 501)
    status = getattr(exc, "status", 500)
    return _json({"error": error_message(exc)}, status if isinstance(status, int) else 500)


class ModelServer:
    """Serves a set of models; ``app()`` builds the aiohttp application."""

    def __init__(self, models: list[Model]) -> None:
        self.models = {m.name: m for m in models}
        self.failures: dict[str, str] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self._session: ClientSession | None = None
        self.metrics = StepMetrics()
        self.loaded = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_get("/", self._live_v1)
        app.router.add_get("/v1/models", self._list)
        app.router.add_get("/v1/models/{name}", self._model_ready)
        app.router.add_post("/v1/models/{tail}", self._v1_verb)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/v2", self._v2_metadata)
        app.router.add_get("/v2/health/live", self._v2_live)
        app.router.add_get("/v2/health/ready", self._v2_ready)
        app.router.add_get("/v2/models", self._list)
        app.router.add_get("/v2/models/{name}", self._model_metadata)
        app.router.add_get("/v2/models/{name}/ready", self._model_ready)
        app.router.add_post("/v2/models/{name}/infer", self._infer)
        app.router.add_get("/v2/models/{name}/versions/{version}", self._versioned)
        app.router.add_get("/v2/models/{name}/versions/{version}/ready", self._versioned)
        app.router.add_post("/v2/models/{name}/versions/{version}/infer", self._versioned)
        app.router.add_post("/v2/repository/models/{name}/load", self._repo_load)
        app.router.add_post("/v2/repository/models/{name}/unload", self._repo_unload)
        # Last, so it only answers paths no route above matched (no per-request middleware cost).
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        app.cleanup_ctx.append(self._background_load)
        return app

    async def _background_load(self, _app: web.Application) -> Any:
        task = asyncio.create_task(self.load_all(), name="minikn.modelserver.load")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._session is not None:
            await self._session.close()

    async def load_all(self) -> None:
        for model in self.models.values():
            await self.load_one(model)
        self.loaded.set()

    async def load_one(self, model: Model) -> None:
        try:
            if asyncio.iscoroutinefunction(model.load):
                result = await call_maybe_async(model.load)
            else:
                result = await asyncio.to_thread(model.load)
            # KServe's load() returns whether the model is ready; None counts as ready.
            model.ready = result is not False
            if not model.ready:
                raise ModelNotReady(model.name, "load() returned False")
            self._pipelines[model.name] = Pipeline(model, self.session, self.metrics)
            self.failures.pop(model.name, None)
            log.info("model %s: ready", model.name)
        except Exception as exc:  # a load failure is reported by the readiness endpoints
            model.ready = False
            self.failures[model.name] = error_message(exc)
            log.error("model %s: failed to load: %s", model.name, error_message(exc))

    def session(self) -> ClientSession:
        if self._session is None:
            self._session = ClientSession()
        return self._session

    # -- lookups ---------------------------------------------------------------------------
    def _pipeline(self, name: str) -> Pipeline:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(name)
        pipeline = self._pipelines.get(name)
        if pipeline is None or not model.ready:
            raise ModelNotReady(name, self.failures.get(name))
        return pipeline

    def _model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(name)
        return model

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    async def _not_found(self, request: web.Request) -> web.Response:
        return _json({"error": f"Not Found: {request.method} {request.path}"}, 404)

    # -- V1 --------------------------------------------------------------------------------
    async def _live_v1(self, _request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _list(self, _request: web.Request) -> web.Response:
        return _json({"models": list(self.models)})

    async def _v1_verb(self, request: web.Request) -> web.Response:
        name, _, verb = request.match_info["tail"].rpartition(":")
        if verb not in ("predict", "explain") or not name:
            return _json({"error": "Not Found"}, 404)
        try:
            pipeline = self._pipeline(name)
            if verb == "explain" and not pipeline.has_explainer:
                raise NotImplementedByModel(f"Model {name} has no explainer")
            body = await request.read()
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"Unrecognized request format: {exc}") from exc
            if not isinstance(payload, dict):
                raise InvalidInput("Unrecognized request format: the body must be a JSON object")
            for key in ("instances", "inputs"):
                if key in payload and not isinstance(payload[key], list):
                    raise InvalidInput(f'Expected "{key}" to be a list')
            result = await pipeline.run(payload, request.headers, explain=verb == "explain")
            return _json(v1_body(result))
        except Exception as exc:
            return _error(exc)

    # -- V2 --------------------------------------------------------------------------------
    async def _v2_metadata(self, _request: web.Request) -> web.Response:
        return _json(
            {
                "name": SERVER_NAME,
                "version": SERVER_VERSION,
                "extensions": ["model_repository_extension"],
            }
        )

    async def _v2_live(self, _request: web.Request) -> web.Response:
        return _json({"live": True})

    async def _v2_ready(self, _request: web.Request) -> web.Response:
        # KServe starts listening only after its models loaded, so "ready" means loaded there.
        if all(m.ready for m in self.models.values()) and self.loaded.is_set():
            return _json({"ready": True})
        return _json({"error": "Server is not ready."}, 503)

    async def _model_metadata(self, request: web.Request) -> web.Response:
        try:
            model = self._model(request.match_info["name"])
            return _json(
                {
                    "name": model.name,
                    "versions": [],
                    "platform": "",
                    "inputs": model.input_metadata() if model.ready else [],
                    "outputs": model.output_metadata() if model.ready else [],
                }
            )
        except Exception as exc:
            return _error(exc)

    async def _model_ready(self, request: web.Request) -> web.Response:
        """V1 ``GET /v1/models/{name}`` and V2 ``GET /v2/models/{name}/ready``: KServe answers
        both with ``{"name", "ready"}``."""
        name = request.match_info["name"]
        try:
            self._pipeline(name)
        except Exception as exc:
            return _error(exc)
        return _json({"name": name, "ready": True})

    async def _infer(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            pipeline = self._pipeline(name)
            body = await request.read()
            infer = parse_infer(name, body, request.headers.get("Inference-Header-Content-Length"))
            result = await pipeline.run(infer, request.headers)
            return _json(v2_body(result, name, infer.id))
        except Exception as exc:
            return _error(exc)

    async def _versioned(self, request: web.Request) -> web.Response:
        try:
            self._model(request.match_info["name"])
        except Exception as exc:
            return _error(exc)
        return _json({"error": "Model versioning not supported yet."}, 501)

    async def _repo_load(self, request: web.Request) -> web.Response:
        try:
            model = self._model(request.match_info["name"])
        except Exception as exc:
            return _error(exc)
        await self.load_one(model)
        if not model.ready:
            return _json({"error": self.failures.get(model.name, "load failed")}, 500)
        return _json({"name": model.name, "load": True})

    async def _repo_unload(self, request: web.Request) -> web.Response:
        try:
            model = self._model(request.match_info["name"])
        except Exception as exc:
            return _error(exc)
        model.ready = False
        self._pipelines.pop(model.name, None)
        return _json({"name": model.name, "unload": True})
