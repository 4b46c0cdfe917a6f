"""``inference.GRPCInferenceService`` answered from the ``DataPlane``, and the status table.

Each RPC is a thin step as the REST handlers are: decode (``codec``), call the ``DataPlane``,
encode. An RPC takes the request message and the call's metadata (as the headers a model's steps
get) and returns the response message or raises; the server (``server``) answers what it raises
with ``grpc_status``, the one table (after KServe's ``ExceptionToStatusInterceptor``):

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

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from minikn.core.errors import MiniknError, NotFound, PayloadTooLarge, Unavailable
from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.errors import InvalidInput, NotImplementedByModel, error_message
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc.codec import decode_request, encode_response, wants_raw
from minikn.wire.grpc import GrpcStatus

__all__ = ["SERVICE", "InferenceServicer", "Rpc", "grpc_status"]

SERVICE = "inference.GRPCInferenceService"

Headers = Mapping[str, str]
Rpc = tuple[Callable[[Any, Headers], Awaitable[Any]], Any]
"""An RPC's coroutine function ``(request, headers) -> response`` and its request class."""


def grpc_status(exc: BaseException) -> tuple[GrpcStatus, str]:
    """The one table: an exception -> (gRPC status code, message)."""
    if isinstance(exc, InvalidInput):
        return GrpcStatus.INVALID_ARGUMENT, exc.message
    if isinstance(exc, NotFound):
        return GrpcStatus.NOT_FOUND, exc.message
    if isinstance(exc, Unavailable):
        return GrpcStatus.UNAVAILABLE, exc.message
    if isinstance(exc, PayloadTooLarge):
        return GrpcStatus.RESOURCE_EXHAUSTED, exc.message
    if isinstance(exc, NotImplementedByModel):
        return GrpcStatus.UNIMPLEMENTED, exc.message
    if isinstance(exc, NotImplementedError):
        return GrpcStatus.UNIMPLEMENTED, str(exc) or "not implemented"
    if isinstance(exc, MiniknError):
        return GrpcStatus.INTERNAL, exc.message
    return GrpcStatus.INTERNAL, error_message(exc)


class InferenceServicer:
    """The RPCs of ``inference.GRPCInferenceService``; ``rpcs()`` names them by path."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    def rpcs(self) -> dict[bytes, Rpc]:
        """Each RPC by its ``:path`` (``/inference.GRPCInferenceService/Name``); any other path
        is UNIMPLEMENTED (Triton's RPCs among them)."""
        methods: dict[str, Rpc] = {
            "ServerLive": (self.ServerLive, pb.ServerLiveRequest),
            "ServerReady": (self.ServerReady, pb.ServerReadyRequest),
            "ModelReady": (self.ModelReady, pb.ModelReadyRequest),
            "ServerMetadata": (self.ServerMetadata, pb.ServerMetadataRequest),
            "ModelMetadata": (self.ModelMetadata, pb.ModelMetadataRequest),
            "ModelInfer": (self.ModelInfer, pb.ModelInferRequest),
            "RepositoryModelLoad": (self.RepositoryModelLoad, pb.RepositoryModelLoadRequest),
            "RepositoryModelUnload": (
                self.RepositoryModelUnload,
                pb.RepositoryModelUnloadRequest,
            ),
        }
        return {f"/{SERVICE}/{name}".encode(): rpc for name, rpc in methods.items()}

    # -- health and metadata ---------------------------------------------------------------
    async def ServerLive(
        self, request: pb.ServerLiveRequest, headers: Headers
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, headers: Headers
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    async def ModelReady(
        self, request: pb.ModelReadyRequest, headers: Headers
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.dataplane.model_ready(request.name))

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, headers: Headers
    ) -> pb.ServerMetadataResponse:
        meta = self.dataplane.metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, headers: Headers
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
        self, request: pb.ModelInferRequest, headers: Headers
    ) -> pb.ModelInferResponse:
        name = request.model_name
        self.dataplane.pipeline(name)  # NOT_FOUND/UNAVAILABLE before decoding, as REST
        infer = decode_request(request)
        result = await self.dataplane.infer(name, infer, headers)
        return encode_response(result, name, infer.id, raw=wants_raw(request))

    # -- model repository extension (KServe's messages, not Triton's) ------------------------
    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, headers: Headers
    ) -> pb.RepositoryModelLoadResponse:
        await self.dataplane.load(request.model_name)
        return pb.RepositoryModelLoadResponse(model_name=request.model_name, isLoaded=True)

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, headers: Headers
    ) -> pb.RepositoryModelUnloadResponse:
        self.dataplane.unload(request.model_name)
        return pb.RepositoryModelUnloadResponse(model_name=request.model_name, isUnloaded=True)
