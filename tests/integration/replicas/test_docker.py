"""Docker-only behaviour: what the container is given, GPU refusal, missing images, networks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.types import LABEL_ISVC, ImageNotFound, NoGPURuntime

from .conftest import TEST_NETWORK, docker_backend_in, http_spec, settings

pytestmark = pytest.mark.docker


@pytest.fixture
async def docker_backend(docker_client: Any, tmp_path: Path) -> Any:
    b = docker_backend_in(tmp_path, docker_client)
    await b.start()
    yield b
    await b.close()


async def test_container_gets_env_labels_limits_mount_and_no_privileges(
    docker_backend: DockerBackend, docker_client: Any, isvc_name: str, tmp_path: Path
) -> None:
    (tmp_path / "model.txt").write_text("weights")
    spec = http_spec("docker", isvc_name)
    handle = await docker_backend.create(spec, f"{spec.name}-a", model_dir=tmp_path)
    attrs = (await asyncio.to_thread(docker_client.containers.get, handle.ref)).attrs
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    keys = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "GREETING")
    assert {k: env[k] for k in keys} == {
        "PORT": "8080", "K_SERVICE": f"{isvc_name}-predictor", "K_REVISION": spec.name,
        "K_CONFIGURATION": f"{isvc_name}-predictor", "GREETING": "hi",
    }  # fmt: skip
    labels = attrs["Config"]["Labels"]
    assert labels[LABEL_ISVC] == isvc_name
    assert labels["minikn.io/revision"] == spec.name
    assert labels["minikn.io/component"] == "predictor"
    assert labels["minikn.io/replica"] == f"{spec.name}-a"
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 256 * 1024 * 1024
    assert [(m["Destination"], m["RW"]) for m in attrs["Mounts"]] == [("/mnt/models", False)]
    assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
    assert list(attrs["NetworkSettings"]["Networks"]) == [TEST_NETWORK]


async def test_gpu_request_is_refused_without_nvidia_runtime(
    docker_backend: DockerBackend, docker_client: Any, isvc_name: str
) -> None:
    info = await asyncio.to_thread(docker_client.info)
    if "nvidia" in info.get("Runtimes", {}):
        pytest.skip("this engine has an NVIDIA runtime; the refusal cannot be observed")
    spec = http_spec("docker", isvc_name, gpus=1)
    with pytest.raises(NoGPURuntime) as err:
        await docker_backend.create(spec, f"{spec.name}-a", model_dir=None, gpus=["GPU-0"])
    assert err.value.reason == "NoGPURuntime"
    assert err.value.message.startswith("no GPU runtime")
    assert await docker_backend.list_replicas() == []


async def test_missing_image_names_the_command_that_builds_it(
    docker_backend: DockerBackend, isvc_name: str
) -> None:
    spec = http_spec("docker", isvc_name)
    spec = spec.model_copy(
        update={"container": spec.container.model_copy(update={"image": "minikn/modelserver:nope"})}
    )
    with pytest.raises(ImageNotFound) as err:
        await docker_backend.create(spec, f"{spec.name}-a", model_dir=None)
    assert err.value.reason == "ImageNotFound"
    assert "minikn images build" in err.value.message


async def test_internal_network_replica_has_no_egress_network(
    docker_backend: DockerBackend, docker_client: Any, isvc_name: str
) -> None:
    spec = http_spec("docker", isvc_name).model_copy(update={"network_internal": True})
    handle = await docker_backend.create(spec, f"{spec.name}-a", model_dir=None)
    attrs = (await asyncio.to_thread(docker_client.containers.get, handle.ref)).attrs
    assert list(attrs["NetworkSettings"]["Networks"]) == [f"{TEST_NETWORK}-internal"]
    net = await asyncio.to_thread(docker_client.networks.get, f"{TEST_NETWORK}-internal")
    assert net.attrs["Internal"] is True


async def test_second_platform_on_the_engine_leaves_the_first_platforms_replica_running(
    docker_client: Any, isvc_name: str, tmp_path: Path
) -> None:
    """Two platforms (state dirs a and b) on one engine: b's start adopts and removes only its
    own containers, so a's running replica is not taken for an orphan."""
    from minikn.core.listeners import RecordingListener
    from minikn.replicas.select import select_backend

    from .helpers import DirStore, make_manager, until

    spec = http_spec("docker", isvc_name)
    listener_a = RecordingListener()
    backend_a = select_backend("docker", settings(), state_dir=tmp_path / "a")
    manager_a, _, _ = make_manager(backend_a, settings(), listener_a, DirStore(tmp_path))
    await manager_a.start([spec])
    try:
        manager_a.set_desired(spec.name, 1)
        await until(lambda: len(listener_a.endpoints.get(spec.name, ())) == 1)
        (handle,) = await backend_a.list_replicas()
        backend_b = select_backend("docker", settings(), state_dir=tmp_path / "b")
        manager_b, _, _ = make_manager(
            backend_b, settings(), RecordingListener(), DirStore(tmp_path)
        )
        await manager_b.start([])  # b knows no revision: everything it owns is an orphan
        try:
            assert await backend_b.list_replicas() == []
        finally:
            await manager_b.close()
        container = await asyncio.to_thread(docker_client.containers.get, handle.ref)
        assert container.status == "running"
        assert container.labels["minikn.io/platform"] != ""
        assert [e.replica_id for e in listener_a.endpoints[spec.name]] == [handle.replica_id]
    finally:
        await manager_a.close()
