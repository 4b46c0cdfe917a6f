"""The built-in model server as a replica on both backends: ready, a prediction, stopped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from minikn.core.listeners import RecordingListener
from minikn.core.revision import ContainerSpec, ModelRef, RevisionSpec
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.images import ensure_image
from minikn.replicas.types import LABEL_REVISION

from .conftest import settings
from .helpers import DirStore, make_manager, until

pytestmark = pytest.mark.docker

IMAGE = "minikn/modelserver:latest"


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sklearn")
    from minikn.modelserver.examples import ensure_example_models

    root = tmp_path_factory.mktemp("models")
    root.chmod(0o755)
    return ensure_example_models(root, ["sklearn-iris"])["sklearn-iris"]


def iris_spec(isvc: str) -> RevisionSpec:
    return RevisionSpec(
        name=f"{isvc}-predictor-00001", isvc=isvc, component="predictor", generation=1,
        builtin_server=True,
        container=ContainerSpec(
            image=IMAGE,
            args=(f"--model_name={isvc}", "--model_dir=/mnt/models", "--http_port=8080",
                  "--model_format=sklearn"),
        ),
        model=ModelRef(name=isvc, format="sklearn", storage_uri="file:///models/iris"),
    )  # fmt: skip


async def _post(host: str, port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    payload = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
    writer.write(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _process_uids(docker_client: Any, revision: str) -> set[int]:
    """The real uids of every process in the revision's container (from its /proc)."""
    (container,) = docker_client.containers.list(
        ignore_removed=True, filters={"label": f"{LABEL_REVISION}={revision}"}
    )
    script = "grep -h '^Uid:' /proc/[0-9]*/status"
    out = container.exec_run(["sh", "-c", script]).output.decode()
    return {int(line.split()[1]) for line in out.splitlines()}


@pytest.mark.usefixtures("model_server_image")
async def test_model_server_replica_predicts_then_stops(
    backend: ReplicaBackend, kind: str, isvc_name: str, iris_dir: Path, docker_client: Any
) -> None:
    if kind == "docker":
        await asyncio.to_thread(ensure_image, docker_client, IMAGE)
    listener = RecordingListener()
    store = DirStore(iris_dir)
    manager, _, _ = make_manager(backend, settings(), listener, store)
    spec = iris_spec(isvc_name)
    await manager.start([spec])
    try:
        manager.set_desired(spec.name, 1)
        await until(lambda: len(listener.endpoints.get(spec.name, ())) == 1, timeout=60)
        assert store.fetched == ["file:///models/iris"]
        (ep,) = listener.endpoints[spec.name]
        status, body = await _post(
            ep.host, ep.port, f"/v1/models/{isvc_name}:predict",
            {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]},
        )  # fmt: skip
        assert (status, body) == (200, {"predictions": [1, 1]})
        if kind == "docker":
            assert await asyncio.to_thread(_process_uids, docker_client, spec.name) == {65534}
        manager.set_desired(spec.name, 0)
        await until(lambda: manager.status(spec.name).replicas == ())
        assert await backend.list_replicas() == []
    finally:
        await manager.close()
