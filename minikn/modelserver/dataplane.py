"""The model server's protocol-agnostic core, after KServe's ``protocol/dataplane.py``.

One ``DataPlane`` holds the model registry and each model's readiness, loads and unloads
models, answers liveness/readiness/metadata, and runs inference. The REST codecs
(``server.py`` + ``codec.py``) and the gRPC servicer (``grpc/servicer.py``) call it with plain
Python values (names, ``dict`` bodies, ``InferRequest``, header mappings) and turn its errors
into answers (``errors.http_answer``, ``grpc.servicer.grpc_status``); nothing here knows HTTP
or gRPC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession

from minikn.modelserver.errors import (
    InferenceError,
    ModelNotFound,
    ModelNotReady,
    NotImplementedByModel,
    ServerNotReady,
    error_message,
)
from minikn.modelserver.metrics import StepMetrics
from minikn.modelserver.model import Model, call_maybe_async
from minikn.modelserver.pipeline import Pipeline
from minikn.modelserver.tensors import InferRequest
from minikn.telemetry.tracing import Tracer, tracer_from_env

if TYPE_CHECKING:
    from minikn.modelserver.grpc.client import PredictorClient

__all__ = ["SERVER_NAME", "SERVER_VERSION", "DataPlane"]

log = logging.getLogger("minikn.modelserver")
SERVER_NAME = "minikn"
SERVER_VERSION = "0.1.0"


class DataPlane:
    """The registry of models and the operations every protocol offers on them."""

    def __init__(
        self,
        models: Sequence[Model],
        *,
        metrics: StepMetrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``tracer`` exports each request's spans (default: from the ``OTEL_*`` variables,
        which ``minikn serve`` sets on replicas when tracing is on)."""
        self.models = {m.name: m for m in models}
        self.tracer = tracer if tracer is not None else tracer_from_env(SERVER_NAME)
        self.failures: dict[str, str] = {}
        self.metrics = metrics or StepMetrics()
        self.loaded = asyncio.Event()
        self._pipelines: dict[str, Pipeline] = {}
        self._session: ClientSession | None = None
        self._grpc: PredictorClient | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def load_all(self) -> None:
        """The initial load: every model once, in order; ``loaded`` is set when all tried."""
        for model in self.models.values():
            await self.load_one(model)
        self.loaded.set()

    async def load_one(self, model: Model) -> None:
        """Load one model; a failure leaves it not ready with the reason in ``failures``."""
        try:
            if asyncio.iscoroutinefunction(model.load):
                result = await call_maybe_async(model.load)
            else:
                result = await asyncio.to_thread(model.load)
            # KServe's load() returns whether the model is ready; None counts as ready.
            model.ready = result is not False
            if not model.ready:
                raise ModelNotReady(model.name, "load() returned False")
            self._pipelines[model.name] = Pipeline(
                model, self.session, self.metrics, self.tracer, self.grpc_client
            )
            self.failures.pop(model.name, None)
            log.info("model %s: ready", model.name)
        except Exception as exc:  # a load failure is reported by the readiness endpoints
            model.ready = False
            self.failures[model.name] = error_message(exc)
            log.error("model %s: failed to load: %s", model.name, error_message(exc))

    async def load(self, name: str) -> None:
        """The model repository extension's load: (re)load ``name``; 500 with the reason."""
        model = self.model(name)
        await self.load_one(model)
        if not model.ready:
            raise InferenceError(self.failures.get(name, "load failed"))

    def unload(self, name: str) -> None:
        model = self.model(name)
        model.ready = False
        self._pipelines.pop(name, None)

    def session(self) -> ClientSession:
        """The HTTP client a transformer forwards to its predictor with (made on first use)."""
        if self._session is None:
            self._session = ClientSession()
        return self._session

    def grpc_client(self) -> PredictorClient:
        """The gRPC client a ``--protocol grpc-v2`` transformer forwards with (made on first
        use: grpcio is imported only by servers that use gRPC)."""
        if self._grpc is None:
            from minikn.modelserver.grpc.client import PredictorClient

            self._grpc = PredictorClient()
        return self._grpc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None

    # -- health and metadata ---------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        """Every model loaded. KServe starts listening only after its models loaded, so
        "ready" means loaded there; minikn listens at once and says so here."""
        return self.loaded.is_set() and all(m.ready for m in self.models.values())

    def require_ready(self) -> None:
        if not self.ready():
            raise ServerNotReady()

    def list_models(self) -> list[str]:
        return list(self.models)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": SERVER_NAME,
            "version": SERVER_VERSION,
            "extensions": ["model_repository_extension"],
        }

    def model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(name)
        return model

    def model_ready(self, name: str) -> bool:
        """Whether ``name`` can serve now; ``ModelNotFound`` for an unknown name."""
        return self.model(name).ready and name in self._pipelines

    def pipeline(self, name: str) -> Pipeline:
        """The ready model's request path: ``ModelNotFound`` (404) or ``ModelNotReady`` (503,
        with the load failure when there was one)."""
        pipeline = self._pipelines.get(name)
        if pipeline is not None and pipeline.model.ready:
            return pipeline
        self.model(name)
        raise ModelNotReady(name, self.failures.get(name))

    def model_metadata(self, name: str) -> dict[str, Any]:
        """V2 model metadata. ``versions`` is ``None``: KServe's ``ModelMetadataResponse``
        declares it ``Optional[List[str]] = None`` and its data plane never fills it
        (``protocol/rest/v2_datamodels.py``, ``protocol/dataplane.py``), so KServe answers
        ``"versions": null``."""
        model = self.model(name)
        return {
            "name": model.name,
            "versions": None,
            "platform": "",
            "inputs": model.input_metadata() if model.ready else [],
            "outputs": model.output_metadata() if model.ready else [],
        }

    # -- inference -------------------------------------------------------------------------
    async def infer(
        self, name: str, request: Mapping[str, Any] | InferRequest, headers: Mapping[str, str]
    ) -> Any:
        """Run ``preprocess -> predict -> postprocess``; the result is for a codec to encode."""
        return await self.pipeline(name).run(request, headers)

    async def explain(
        self, name: str, request: Mapping[str, Any] | InferRequest, headers: Mapping[str, str]
    ) -> Any:
        pipeline = self.pipeline(name)
        if not pipeline.has_explainer:
            raise NotImplementedByModel(f"Model {name} has no explainer")
        return await pipeline.run(request, headers, explain=True)
