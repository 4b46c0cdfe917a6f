"""A transformer's gRPC client to its predictor (``--protocol grpc-v2``): ``ModelInfer`` over one
``grpc.aio`` channel per predictor address.

``--predictor_host`` comes in the two spellings minikn's router takes (``minikn.router``):
``<isvc>-predictor.<ns>[.<domain>][:port]`` (the host is the address and the ``:authority``), or
``<ingress host:port>/_host/<isvc>-predictor.<ns>`` (the ingress is the address, the name after
``/_host/`` the ``:authority``, as a gRPC path cannot carry the prefix). The call goes through the
platform's ingress like any other gRPC call: split, held at zero, metered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from minikn.modelserver.errors import InferenceError
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc.codec import decode_response, encode_request
from minikn.modelserver.grpc.server import MAX_GRPC_MESSAGE_LENGTH

__all__ = ["PredictorClient", "grpc_target"]

_METHOD = "/inference.GRPCInferenceService/ModelInfer"
_DEFAULT_PORT = 80
"""A predictor host without a port is a Knative Service's, which listens on 80."""


def grpc_target(predictor_host: str) -> tuple[str, str | None]:
    """``--predictor_host`` -> (the channel's target ``host:port``, the ``:authority`` to send
    or None for the target's own). Pure.

    >>> grpc_target("127.0.0.1:8080/_host/iris-predictor.default")
    ('127.0.0.1:8080', 'iris-predictor.default')
    >>> grpc_target("iris-predictor.default")
    ('iris-predictor.default:80', None)
    """
    address, sep, routed = predictor_host.partition("/_host/")
    address = address.removeprefix("http://").rstrip("/")
    if not address.rpartition(":")[2].isdigit():
        address = f"{address}:{_DEFAULT_PORT}"
    return address, (routed.strip("/") or None) if sep else None


class PredictorClient:
    """Channels to predictors, opened on first use and closed with the model server."""

    def __init__(self, timeout: float = 300.0) -> None:
        """``timeout``: each call's deadline (sent as ``grpc-timeout``), as the REST forwarder's
        aiohttp session bounds a call (5 minutes)."""
        self._timeout = timeout
        self._channels: dict[str, tuple[grpc.aio.Channel, Any]] = {}

    def _method(self, predictor_host: str) -> Any:
        known = self._channels.get(predictor_host)
        if known is not None:
            return known[1]
        target, authority = grpc_target(predictor_host)
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_LENGTH),
            ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_LENGTH),
        ]
        if authority is not None:
            options.append(("grpc.default_authority", authority))
        channel = grpc.aio.insecure_channel(target, options=options)
        method = channel.unary_unary(
            _METHOD,
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        self._channels[predictor_host] = (channel, method)
        return method

    async def infer(
        self,
        predictor_host: str,
        model_name: str,
        payload: Any,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """``ModelInfer`` of ``payload`` on the predictor; its answer as a V2 JSON body.
        A gRPC error is an InferenceError naming the predictor and the status."""
        request = encode_request(payload, model_name)
        try:
            response = await self._method(predictor_host)(
                request, metadata=tuple(metadata), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise InferenceError(
                f"predictor {predictor_host} answered {exc.code().name}: {exc.details()}"
            ) from None
        return decode_response(response)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel, _ in channels.values():
            await channel.close()
