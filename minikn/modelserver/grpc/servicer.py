"""``inference.GRPCInferenceService`` answered from the ``DataPlane``, and the status table.

Each RPC is a thin step as the REST handlers are: decode (``codec``), call the ``DataPlane``,
encode. Errors are mapped once, in ``grpc_status`` (after KServe's
``ExceptionToStatusInterceptor``), and every RPC handler is wrapped by ``_answering_errors``:

| error                                             | status           |
|---------------------------------------------------|------------------|
| ``InvalidInput`` (bad tensors, shapes, datatypes)  | INVALID_ARGUMENT |
| ``ModelNotFound`` (or any ``NotFound``)            | NOT_FOUND        |
| ``ModelNotReady``, ``ServerNotReady``, ``Unavailable`` | UNAVAILABLE  |
| ``PayloadTooLarge``                                | RESOURCE_EXHAUSTED |
| ``NotImplementedByModel``, ``NotImplementedError`` | UNIMPLEMENTED    |
| anything else (``InferenceError`` included)        | INTERNAL         |

KServe answers INVALID_ARGUMENT for its ``InferenceError`` too, and INTERNAL with the bare text
"Internal server error" for anything else. minikn already tells a framework's refusal of the
input (``InvalidInput``) from its own failure (``InferenceError``), so the failure is INTERNAL,
and the message always carries the reason (``Type : message`` for an unexpected exception).

ServerReady and ModelReady answer ``ready: false`` while loading rather than failing; ModelReady
for an unknown model is NOT_FOUND, as KServe.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from minikn.core.errors import MiniknError, NotFound, PayloadTooLarge, Unavailable
from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.errors import InvalidInput, NotImplementedByModel, error_message
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc.codec import decode_request, encode_response, wants_raw

__all__ = ["SERVICE", "InferenceServicer", "grpc_status"]

log = logging.getLogger("minikn.modelserver.grpc")
SERVICE = "inference.GRPCInferenceService"

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Method = Callable[[Req, Any], Awaitable[Resp]]


def grpc_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The one table: an exception -> (gRPC status code, message)."""
    if isinstance(exc, InvalidInput):
        return grpc.StatusCode.INVALID_ARGUMENT, exc.message
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND, exc.message
    if isinstance(exc, Unavailable):
        return grpc.StatusCode.UNAVAILABLE, exc.message
    if isinstance(exc, PayloadTooLarge):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message
    if isinstance(exc, NotImplementedByModel):
        return grpc.StatusCode.UNIMPLEMENTED, exc.message
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc) or "not implemented"
    if isinstance(exc, MiniknError):
        return grpc.StatusCode.INTERNAL, exc.message
    return grpc.StatusCode.INTERNAL, error_message(exc)


def _answering_errors(method: Method[Req, Resp]) -> Method[Req, Resp]:
    """Wrap an RPC so any exception aborts the call with ``grpc_status``'s code."""

    @functools.wraps(method)
    async def guarded(request: Req, context: Any) -> Resp:
        try:
            return await method(request, context)
        except Exception as exc:
            code, message = grpc_status(exc)
            if code is grpc.StatusCode.INTERNAL:
                log.error("%s: %s", method.__name__, message)
            await context.abort(code, message)
            raise  # pragma: no cover - abort raises

    return guarded


def _headers(context: Any) -> dict[str, str]:
    """The call's metadata as the headers a model's steps get (binary ``-bin`` keys left out)."""
    return {
        key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


class InferenceServicer:
    """The RPCs of ``inference.GRPCInferenceService``; ``handlers()`` registers them."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    def handlers(self) -> Any:
        """A ``grpc.GenericRpcHandler`` for the service (typed here rather than through the
        generated ``*_pb2_grpc`` module, which carries no annotations)."""
        methods: dict[str, tuple[Method[Any, Any], Any, Any]] = {
            "ServerLive": (self.ServerLive, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": (self.ServerReady, pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": (self.ModelReady, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": (
                self.ServerMetadata,
                pb.ServerMetadataRequest,
                pb.ServerMetadataResponse,
            ),
            "ModelMetadata": (
                self.ModelMetadata,
                pb.ModelMetadataRequest,
                pb.ModelMetadataResponse,
            ),
            "ModelInfer": (self.ModelInfer, pb.ModelInferRequest, pb.ModelInferResponse),
            "RepositoryModelLoad": (
                self.RepositoryModelLoad,
                pb.RepositoryModelLoadRequest,
                pb.RepositoryModelLoadResponse,
            ),
            "RepositoryModelUnload": (
                self.RepositoryModelUnload,
                pb.RepositoryModelUnloadRequest,
                pb.RepositoryModelUnloadResponse,
            ),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    _answering_errors(fn),
                    request_deserializer=request.FromString,
                    response_serializer=response.SerializeToString,
                )
                for name, (fn, request, response) in methods.items()
            },
        )

    # -- health and metadata ---------------------------------------------------------------
    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Any
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Any
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Any
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name))

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Any
    ) -> pb.ServerMetadataResponse:
        meta = self.dataplane.metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Any
    ) -> pb.ModelMetadataResponse:
        meta = self.dataplane.model_metadata(request.name)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"] or [],
            platform=meta["platform"],
            inputs=[
                tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                for t in meta["inputs"]
            ],
            outputs=[
                tensor(name=t["name"], datatype=t["datatype"], shape=t["shape"])
                for t in meta["outputs"]
            ],
        )

    # -- inference -------------------------------------------------------------------------
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Any
    ) -> pb.ModelInferResponse:
        name = request.model_name
        self.dataplane.pipeline(name)  # NOT_FOUND/UNAVAILABLE before decoding, as REST
        infer = decode_request(request)
        result = await self.dataplane.infer(name, infer, _headers(context))
        return encode_response(result, name, infer.id, raw=wants_raw(request))

    # -- model repository extension (KServe's messages, not Triton's) ------------------------
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Any
    ) -> pb.RepositoryModelLoadResponse:
        await self.dataplane.load(request.model_name)
        return pb.RepositoryModelLoadResponse(model_name=request.model_name, isLoaded=True)

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Any
    ) -> pb.RepositoryModelUnloadResponse:
        self.dataplane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse(model_name=request.model_name, isUnloaded=True)
