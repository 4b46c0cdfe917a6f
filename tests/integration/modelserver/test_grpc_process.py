"""The real ``python -m minikn.modelserver ... --grpc_port 0`` process, driven by
``tritonclient.grpc``: raw tensors of every datatype, metadata, readiness, parameters, headers,
status codes, and REST still served beside gRPC."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

IRIS = np.array([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], dtype=np.float32)
_REST = re.compile(rb"listening on [^:]+:(\d+)")
_GRPC = re.compile(rb"gRPC on [^:]+:(\d+)")
HERE = Path(__file__).parent
pytestmark = pytest.mark.asyncio(loop_scope="module")


class Server:
    def __init__(self, proc: asyncio.subprocess.Process, rest: int, grpc: int | None) -> None:
        self.proc, self.rest, self.grpc = proc, rest, grpc

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    async def stop(self) -> None:
        self.proc.terminate()
        assert await asyncio.wait_for(self.proc.wait(), 10) == 0


async def start(*args: str) -> Server:
    """Start the server; wait for its REST line and, when ``--grpc_port`` is on, its gRPC line,
    then until the model is ready."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "minikn.modelserver",
        "--host",
        "127.0.0.1",
        "--http_port",
        "0",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    rest = grpc = None
    wants_grpc = "--grpc_port" in args and "--enable_grpc=false" not in args
    async with asyncio.timeout(30):
        while rest is None or (wants_grpc and grpc is None):
            line = await proc.stderr.readline()
            if not line:
                pytest.fail("model server exited before listening")
            if found := _REST.search(line):
                rest = int(found.group(1))
            elif found := _GRPC.search(line):
                grpc = int(found.group(1))
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(f"http://127.0.0.1:{rest}/v2/health/ready") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.02)
    return Server(proc, rest, grpc)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def iris(example_models: dict[str, Path]) -> AsyncIterator[Server]:
    server = await start(
        "--model_name",
        "iris",
        "--model_dir",
        str(example_models["sklearn-iris"]),
        "--grpc_port",
        "0",
    )
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def echo() -> AsyncIterator[Server]:
    server = await start(
        "--model_name", "echo", "--model_class", "grpc_echo_model:Echo", "--grpc_port", "0"
    )
    yield server
    await server.stop()


def client(server: Server) -> Any:
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(url=server.url)


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT32", "INT64"])
async def test_tritonclient_infers_raw_tensors_on_sklearn_iris(iris: Server, datatype: str) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import triton_to_np_dtype

    def run() -> tuple[list[int], str, str]:
        with client(iris) as triton:
            data = (IRIS if datatype.startswith("FP") else np.rint(IRIS)).astype(
                triton_to_np_dtype(datatype)
            )
            tensor = grpcclient.InferInput("input-0", list(data.shape), datatype)
            tensor.set_data_from_numpy(data)
            result = triton.infer("iris", [tensor], request_id="r-7")
            response = result.get_response()
            return result.as_numpy("output-0").tolist(), response.id, response.outputs[0].datatype

    values, request_id, out_type = await asyncio.to_thread(run)
    assert request_id == "r-7"
    assert out_type == "INT64"
    assert len(values) == 2
    if datatype.startswith("FP"):
        assert values == [1, 1]


async def test_tritonclient_health_and_metadata(iris: Server) -> None:
    def run() -> tuple[Any, ...]:
        with client(iris) as triton:
            return (
                triton.is_server_live(),
                triton.is_server_ready(),
                triton.is_model_ready("iris"),
                triton.get_server_metadata(as_json=True),
                triton.get_model_metadata("iris", as_json=True),
            )

    live, ready, model_ready, server_meta, model_meta = await asyncio.to_thread(run)
    assert (live, ready, model_ready) == (True, True, True)
    assert server_meta == {
        "name": "minikn",
        "version": "0.1.0",
        "extensions": ["model_repository_extension"],
    }
    assert model_meta["name"] == "iris"
    assert model_meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": ["-1", "4"]}]


async def test_tritonclient_sees_kserves_status_codes(iris: Server) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    def run() -> list[str | None]:
        codes: list[str | None] = []
        one = grpcclient.InferInput("input-0", [1, 1], "FP32")
        one.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
        with client(iris) as triton:
            for call in (
                lambda: triton.get_model_config("iris"),
                lambda: triton.is_model_ready("nope"),
                lambda: triton.infer("iris", [one]),
            ):
                with pytest.raises(InferenceServerException) as caught:
                    call()
                codes.append(caught.value.status())
                codes.append(caught.value.message())
        return codes

    codes = await asyncio.to_thread(run)
    assert codes[0] == "StatusCode.UNIMPLEMENTED"
    assert codes[2:4] == ["StatusCode.NOT_FOUND", "Model with name nope does not exist."]
    assert codes[4] == "StatusCode.INVALID_ARGUMENT"
    assert "X has 1 features" in str(codes[5])


async def test_rest_is_served_beside_grpc(iris: Server) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{iris.rest}/v2/models/iris/infer",
            json={
                "inputs": [
                    {"name": "i", "shape": [2, 4], "datatype": "FP32", "data": IRIS.tolist()}
                ]
            },
        ) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["outputs"][0]["data"] == [1, 1]


ECHOED: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 1, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 0, 2**15 - 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25, 65504.0]], dtype=np.float16),
    "FP32": np.array([[0.5, -1.25, 3.0e38]], dtype=np.float32),
    "FP64": np.array([[0.5, -1.25, 1.0e308]], dtype=np.float64),
    "BYTES": np.array([[b"a", b"", "h\xe9llo".encode()]], dtype=np.object_),
}


async def test_every_datatype_round_trips_raw_through_a_custom_model(echo: Server) -> None:
    import tritonclient.grpc as grpcclient

    def run() -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, str]]:
        with client(echo) as triton:
            inputs = []
            for datatype, data in ECHOED.items():
                tensor = grpcclient.InferInput(datatype.lower(), list(data.shape), datatype)
                tensor.set_data_from_numpy(data)
                inputs.append(tensor)
            result = triton.infer("echo", inputs)
            types = {o.name: o.datatype for o in result.get_response().outputs}
            return {d: result.as_numpy(f"echo-{d.lower()}") for d in ECHOED}, types

    arrays, types = await asyncio.to_thread(run)
    for datatype, data in ECHOED.items():
        assert types[f"echo-{datatype.lower()}"] == datatype
        np.testing.assert_array_equal(arrays[datatype], data)
        assert arrays[datatype].shape == data.shape


async def test_parameters_and_headers_reach_the_model(echo: Server) -> None:
    import tritonclient.grpc as grpcclient

    def run() -> dict[str, Any]:
        with client(echo) as triton:
            tensor = grpcclient.InferInput("x", [1], "INT32")
            tensor.set_data_from_numpy(np.array([3], dtype=np.int32))
            result = triton.infer(
                "echo",
                [tensor],
                parameters={"flag": True, "n": 5, "s": "pd"},
                headers={"x-echo": "hello"},
            )
            return result.get_response(as_json=True)["parameters"]  # type: ignore[no-any-return]

    params = await asyncio.to_thread(run)
    assert params == {
        "flag": {"bool_param": True},
        "n": {"int64_param": "5"},
        "s": {"string_param": "pd"},
        "x-echo": {"string_param": "hello"},
    }


async def test_an_async_client_with_many_calls_in_flight(echo: Server) -> None:
    import tritonclient.grpc.aio as aioclient

    async with aioclient.InferenceServerClient(url=echo.url) as triton:

        async def one(i: int) -> int:
            tensor = aioclient.InferInput("x", [1], "INT64")
            tensor.set_data_from_numpy(np.array([i], dtype=np.int64))
            result = await triton.infer("echo", [tensor], request_id=str(i))
            assert result.get_response().id == str(i)
            return int(result.as_numpy("echo-x")[0])

        assert await asyncio.gather(*(one(i) for i in range(64))) == list(range(64))


async def test_enable_grpc_false_opens_no_grpc_port() -> None:
    server = await start(
        "--model_name",
        "echo",
        "--model_class",
        "grpc_echo_model:Echo",
        "--grpc_port",
        "0",
        "--enable_grpc=false",
    )
    assert server.grpc is None
    await server.stop()
    # The gRPC line would come after the REST one, which is where start() stopped reading.
    assert server.proc.stderr is not None
    assert not _GRPC.search(await server.proc.stderr.read())
