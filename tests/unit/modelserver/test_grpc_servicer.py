"""The gRPC face in process: a ``GrpcServer`` on 127.0.0.1:0 over a ``DataPlane``, called with
``grpc.aio`` and the generated stubs; health, metadata, inference, the repository extension,
status codes and the message bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import numpy as np
import pytest
from grpc import aio

from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from minikn.modelserver.grpc.server import GrpcServer, GrpcSettings
from minikn.modelserver.model import Model
from minikn.modelserver.tensors import InferRequest


class Doubler(Model):
    def input_metadata(self) -> list[dict[str, Any]]:
        return [{"name": "x", "datatype": "FP32", "shape": [-1]}]

    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        assert isinstance(payload, InferRequest)
        if headers and headers.get("x-fail") == "yes":
            raise ZeroDivisionError("division by zero")
        return payload.inputs[0].data * 2


class Broken(Model):
    def load(self) -> bool:
        raise OSError("no weights")


Stub = Any
Start = Callable[..., Awaitable[Stub]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[tuple[GrpcServer, aio.Channel]] = []

    async def run(*models: Model, settings: GrpcSettings | None = None, load: bool = True) -> Stub:
        dataplane = DataPlane(list(models))
        if load:
            await dataplane.load_all()
        server = GrpcServer(dataplane, settings)
        port = await server.start("127.0.0.1", 0)
        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        stub.channel = channel  # for calls the stubs do not have
        return stub

    yield run
    for server, channel in started:
        await channel.close()
        await server.stop()


def infer_request(model: str, values: list[float]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, id="r-1")
    request.inputs.add(name="x", datatype="FP32", shape=[len(values)])
    request.raw_input_contents.append(np.asarray(values, dtype="<f4").tobytes())
    return request


async def code_of(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


async def test_health_and_metadata_answer_from_the_dataplane(start: Start) -> None:
    stub = await start(Doubler("double"))
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="double"))).ready
    meta = await stub.ServerMetadata(pb.ServerMetadataRequest())
    assert (meta.name, list(meta.extensions)) == ("minikn", ["model_repository_extension"])
    model = await stub.ModelMetadata(pb.ModelMetadataRequest(name="double"))
    assert model.name == "double"
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("x", "FP32", [-1])]


async def test_before_the_models_load_the_server_is_not_ready(start: Start) -> None:
    stub = await start(Doubler("double"), load=False)
    assert not (await stub.ServerReady(pb.ServerReadyRequest())).ready
    assert not (await stub.ModelReady(pb.ModelReadyRequest(name="double"))).ready
    code, details = await code_of(stub.ModelInfer(infer_request("double", [1.0])))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert details == "Model with name double is not ready."


async def test_model_infer_answers_raw_outputs_with_the_request_id(start: Start) -> None:
    stub = await start(Doubler("double"))
    response = await stub.ModelInfer(infer_request("double", [1.5, -2.0]))
    assert (response.model_name, response.id) == ("double", "r-1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("output-0", "FP32", [2])
    ]
    assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [3.0, -4.0]


async def test_status_codes_for_unknown_model_bad_input_and_model_failure(start: Start) -> None:
    stub = await start(Doubler("double"))
    code, details = await code_of(stub.ModelInfer(infer_request("nope", [1.0])))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "Model with name nope does not exist.")
    code, _ = await code_of(stub.ModelReady(pb.ModelReadyRequest(name="nope")))
    assert code is grpc.StatusCode.NOT_FOUND
    bad = infer_request("double", [1.0])
    bad.inputs[0].shape[:] = [3]
    code, details = await code_of(stub.ModelInfer(bad))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 3 elements, data has 1" in details
    call = stub.ModelInfer(infer_request("double", [1.0]), metadata=(("x-fail", "yes"),))
    code, details = await code_of(call)
    assert (code, details) == (grpc.StatusCode.INTERNAL, "ZeroDivisionError : division by zero")


async def test_a_model_that_failed_to_load_is_unavailable_with_the_reason(start: Start) -> None:
    stub = await start(Broken("broken"))
    code, details = await code_of(stub.ModelInfer(infer_request("broken", [1.0])))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert "OSError : no weights" in details
    code, details = await code_of(
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="broken"))
    )
    assert code is grpc.StatusCode.INTERNAL
    assert "no weights" in details


async def test_repository_unload_then_load(start: Start) -> None:
    stub = await start(Doubler("double"))
    unloaded = await stub.RepositoryModelUnload(
        pb.RepositoryModelUnloadRequest(model_name="double")
    )
    assert (unloaded.model_name, unloaded.isUnloaded) == ("double", True)
    code, _ = await code_of(stub.ModelInfer(infer_request("double", [1.0])))
    assert code is grpc.StatusCode.UNAVAILABLE
    loaded = await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="double"))
    assert (loaded.model_name, loaded.isLoaded) == ("double", True)
    assert (await stub.ModelInfer(infer_request("double", [1.0]))).outputs[0].name == "output-0"
    code, _ = await code_of(
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="nope"))
    )
    assert code is grpc.StatusCode.NOT_FOUND


async def test_triton_only_rpcs_are_unimplemented(start: Start) -> None:
    stub = await start(Doubler("double"))
    for method in ("ModelConfig", "ModelStatistics", "RepositoryIndex", "SystemSharedMemoryStatus"):
        call = stub.channel.unary_unary(f"/inference.GRPCInferenceService/{method}")
        code, _ = await code_of(call(b""))
        assert code is grpc.StatusCode.UNIMPLEMENTED


async def test_a_message_above_the_receive_bound_is_refused(start: Start) -> None:
    stub = await start(Doubler("double"), settings=GrpcSettings(max_receive_bytes=4096))
    code, _ = await code_of(stub.ModelInfer(infer_request("double", [1.0] * 2048)))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await stub.ModelInfer(infer_request("double", [1.0] * 16))).outputs


async def test_calls_run_concurrently_on_the_loop(start: Start) -> None:
    stub = await start(Doubler("double"))
    responses = await asyncio.gather(
        *(stub.ModelInfer(infer_request("double", [float(i)])) for i in range(50))
    )
    assert [np.frombuffer(r.raw_output_contents[0], "<f4")[0] for r in responses] == [
        2.0 * i for i in range(50)
    ]
