"""The real ``python -m minikn.modelserver`` process on 127.0.0.1, driven by tritonclient."""

from __future__ import annotations

import asyncio
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
_LISTENING = re.compile(rb"listening on [^:]+:(\d+)")
# One event loop for the module, so one sklearn server process serves every test that uses it.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def start_server(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "minikn.modelserver",
        "--host",
        "127.0.0.1",
        "--http_port",
        "0",
        "--unknown_flag=1",
        *args,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while True:
            line = await proc.stderr.readline()
            if not line:
                pytest.fail("model server exited before listening")
            found = _LISTENING.search(line)
            if found:
                return proc, int(found.group(1))


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def wait_ready(port: int, path: str) -> list[int]:
    """Poll readiness until 200 (deadline 30 s); return every status seen."""
    seen: list[int] = []
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                seen.append(resp.status)
                if resp.status == 200:
                    return seen
            await asyncio.sleep(0.02)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sklearn_server(example_models: dict[str, Path]) -> AsyncIterator[int]:
    proc, port = await start_server(
        "--model_name", "iris", "--model_dir", str(example_models["sklearn-iris"])
    )
    seen = await wait_ready(port, "/v2/models/iris/ready")
    assert set(seen) <= {200, 503}
    yield port
    await stop(proc)


def triton_infer(
    port: int, model: str, data: np.ndarray[Any, Any]
) -> tuple[bool, np.ndarray[Any, Any]]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        ready = client.is_server_ready() and client.is_model_ready(model)
        tensor = httpclient.InferInput("input-0", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data, binary_data=False)
        result = client.infer(
            model,
            [tensor],
            request_id="t-1",
            outputs=[httpclient.InferRequestedOutput("output-0", binary_data=False)],
        )
        assert result.get_response()["id"] == "t-1"
        return ready, result.as_numpy("output-0")
    finally:
        client.close()


async def test_tritonclient_json_tensors_against_sklearn(sklearn_server: int) -> None:
    ready, out = await asyncio.to_thread(triton_infer, sklearn_server, "iris", IRIS)
    assert ready
    assert out.tolist() == [1, 1]


async def test_tritonclient_binary_inputs(sklearn_server: int) -> None:
    import tritonclient.http as httpclient

    def run() -> list[int]:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{sklearn_server}")
        try:
            tensor = httpclient.InferInput("input-0", list(IRIS.shape), "FP32")
            tensor.set_data_from_numpy(IRIS, binary_data=True)
            out = httpclient.InferRequestedOutput("output-0", binary_data=False)
            return client.infer("iris", [tensor], outputs=[out]).as_numpy("output-0").tolist()  # type: ignore[no-any-return]
        finally:
            client.close()

    assert await asyncio.to_thread(run) == [1, 1]


@pytest.mark.parametrize(
    ("name", "fmt"), [("xgboost-iris", "xgboost"), ("lightgbm-iris", "lightgbm")]
)
async def test_boosters_serve_v1_and_v2(
    example_models: dict[str, Path], name: str, fmt: str
) -> None:
    proc, port = await start_server(
        "--model_name", name, "--model_dir", str(example_models[name]), f"--model_format={fmt}"
    )
    try:
        await wait_ready(port, f"/v1/models/{name}")
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                json={"instances": IRIS.tolist()},
            ) as resp,
        ):
            assert resp.status == 200
            predictions = np.asarray((await resp.json())["predictions"])
        classes = predictions.argmax(axis=1) if predictions.ndim == 2 else np.rint(predictions)
        assert classes.astype(int).tolist() == [1, 1]
        ready, out = await asyncio.to_thread(triton_infer, port, name, IRIS)
        assert ready
        assert out.shape[0] == 2
    finally:
        await stop(proc)


async def test_tritonclient_defaults_binary_inputs_and_binary_outputs_asked(
    sklearn_server: int,
) -> None:
    """tritonclient's defaults: binary inputs, and (no ``outputs``) ``binary_data_output``."""
    import tritonclient.http as httpclient

    def run() -> tuple[dict[str, Any], list[int]]:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{sklearn_server}")
        try:
            tensor = httpclient.InferInput("input-0", list(IRIS.shape), "FP32")
            tensor.set_data_from_numpy(IRIS)
            result = client.infer("iris", [tensor])
            return result.get_response()["outputs"][0], result.as_numpy("output-0").tolist()
        finally:
            client.close()

    output, values = await asyncio.to_thread(run)
    assert values == [1, 1]
    assert "data" not in output
    assert output["parameters"] == {"binary_data_size": 16}  # two INT64s, raw


async def test_tritonclient_reads_a_client_error(sklearn_server: int) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    def run() -> str:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{sklearn_server}")
        try:
            tensor = httpclient.InferInput("input-0", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.ones((1, 1), dtype=np.float32))
            with pytest.raises(InferenceServerException) as caught:
                client.infer("iris", [tensor])
            return str(caught.value)
        finally:
            client.close()

    assert "X has 1 features" in await asyncio.to_thread(run)
