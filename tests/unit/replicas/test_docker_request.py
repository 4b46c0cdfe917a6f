"""What the Docker backend sends to the engine, against an in-tree fake client."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from docker.types import DeviceRequest

from minikn.config.local import ReplicasConfig
from minikn.core.revision import ContainerSpec, ModelRef, ResourceSpec, RevisionSpec
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.docker_spec import container_config, replica_user
from minikn.replicas.types import NoGPURuntime


def _spec(gpus: int = 1) -> RevisionSpec:
    return RevisionSpec(
        name="iris-predictor-00001", isvc="iris", component="predictor", generation=1,
        container=ContainerSpec(
            image="minikn/modelserver:latest", args=("--model_name=iris",),
            resources=ResourceSpec(cpu=1.5, memory=1 << 30, gpus=gpus),
        ),
        model=ModelRef(name="iris", format="sklearn", storage_uri="file:///m"),
    )  # fmt: skip


def test_gpu_replica_requests_exactly_the_allocated_device_ids() -> None:
    kwargs = container_config(
        _spec(2), "r1", model_dir=Path("/m"), gpus=["GPU-a", "GPU-c"], network="n", publish=False
    )
    assert kwargs["device_requests"] == [
        DeviceRequest(driver="nvidia", device_ids=["GPU-a", "GPU-c"], capabilities=[["gpu"]])
    ]
    assert kwargs["labels"]["minikn.io/gpus"] == "GPU-a,GPU-c"
    assert kwargs["nano_cpus"] == 1_500_000_000
    assert kwargs["mem_limit"] == 1 << 30
    assert kwargs["volumes"] == {"/m": {"bind": "/mnt/models", "mode": "ro"}}
    assert kwargs["command"] == ["--model_name=iris"]
    assert "entrypoint" not in kwargs
    assert "ports" not in kwargs


def test_cpu_replica_has_no_device_request_and_publishes_on_loopback() -> None:
    kwargs = container_config(_spec(0), "r1", model_dir=None, gpus=[], network="n", publish=True)
    assert "device_requests" not in kwargs
    assert "volumes" not in kwargs
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None)}


@dataclass
class FakeContainer:
    start_error: Exception | None
    removed: bool = False
    id: str = "c1"

    def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error

    def remove(self, force: bool = False) -> None:
        self.removed = True


@dataclass
class FakeContainers:
    start_error: Exception | None = None
    created: list[dict[str, Any]] = field(default_factory=list)
    made: list[FakeContainer] = field(default_factory=list)

    def create(self, **kwargs: Any) -> FakeContainer:
        self.created.append(kwargs)
        self.made.append(FakeContainer(self.start_error))
        return self.made[-1]


@dataclass
class FakeClient:
    containers: FakeContainers


async def test_engine_without_nvidia_runtime_gives_no_gpu_runtime_and_leaves_nothing() -> None:
    refusal = docker.errors.APIError(
        "500 Server Error",
        explanation='could not select device driver "nvidia" with capabilities: [[gpu]]',
    )
    client = FakeClient(FakeContainers(start_error=refusal))
    backend = DockerBackend(ReplicasConfig(), client=client)
    with pytest.raises(NoGPURuntime) as err:
        await backend.create(_spec(1), "r1", model_dir=None, gpus=["GPU-a"])
    assert err.value.message == (
        "no GPU runtime: the Docker engine has no NVIDIA runtime (install nvidia-container-toolkit)"
    )
    sent = client.containers.created[0]["device_requests"]
    assert sent == [DeviceRequest(driver="nvidia", device_ids=["GPU-a"], capabilities=[["gpu"]])]
    assert client.containers.made[0].removed


@pytest.mark.parametrize(("flag", "expected"), [("1", True), ("0", False)])
def test_in_docker_flag_decides(monkeypatch: pytest.MonkeyPatch, flag: str, expected: bool) -> None:
    from minikn.replicas.docker_spec import in_docker

    monkeypatch.setenv("MINIKN_IN_DOCKER", flag)
    assert in_docker(client=None) is expected


def test_replica_carries_its_platforms_identity() -> None:
    kwargs = container_config(
        _spec(0), "r1", model_dir=None, gpus=[], network="n", publish=False, platform="abc123"
    )
    assert kwargs["labels"]["minikn.io/platform"] == "abc123"
    assert kwargs["labels"]["minikn.io/managed"] == "true"


def test_platform_identity_is_stable_per_state_dir_and_differs_between_them(
    tmp_path: Path,
) -> None:
    from minikn.replicas.backend import platform_id

    a, b = tmp_path / "a", tmp_path / "b"
    assert platform_id(a) == platform_id(tmp_path / "x" / ".." / "a")
    assert platform_id(a) != platform_id(b)
    assert DockerBackend(ReplicasConfig(), client=None, platform=platform_id(a)).platform == (
        platform_id(a)
    )


def _stat(mode: int, uid: int = 1000, gid: int = 1000) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 0, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("builtin", "uid", "model_dir", "expected"),
    [
        (True, 1000, _stat(0o700, uid=0, gid=0), "1000:1000"),  # the platform's user
        (True, 0, _stat(0o755), "65534:65534"),  # root platform: nobody reads the model
        (True, 0, None, "65534:65534"),
        (True, 0, _stat(0o700, uid=0, gid=0), "0:0"),  # only its owner can read it
        (True, 0, _stat(0o750, uid=1000, gid=1000), "1000:1000"),
        (False, 0, _stat(0o755), None),  # a custom image keeps its own USER
    ],
)
def test_replica_user_is_unprivileged_where_the_model_allows(
    builtin: bool, uid: int, model_dir: os.stat_result | None, expected: str | None
) -> None:
    spec = _spec(0).model_copy(update={"builtin_server": builtin})
    assert replica_user(spec, uid=uid, gid=uid, model_dir=model_dir) == expected
    kwargs = container_config(
        spec, "r1", model_dir=None, gpus=[], network="n", publish=False, user=expected
    )
    assert kwargs.get("user") == expected


def test_a_grpc_replica_publishes_and_labels_its_grpc_port_too() -> None:
    spec = _spec(0)
    spec = spec.model_copy(
        update={"container": spec.container.model_copy(update={"grpc_port": 8081})}
    )
    kwargs = container_config(spec, "r1", model_dir=None, gpus=[], network="n", publish=True)
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None), "8081/tcp": ("127.0.0.1", None)}
    assert kwargs["labels"]["minikn.io/grpc-port"] == "8081"
    assert kwargs["environment"]["GRPC_PORT"] == "8081"


@dataclass
class InspectedContainer:
    labels: dict[str, str]
    attrs: dict[str, Any]
    name: str = "minikn-r1"
    id: str = "c1"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("published", ("127.0.0.1", 32001, 32002)), ("name", ("minikn-r1", 8080, 8081))],
)
def test_the_handle_reaches_the_grpc_port_where_the_http_port_is_reached(
    mode: str, expected: tuple[str, int, int]
) -> None:
    ports = {"8080/tcp": [{"HostPort": "32001"}], "8081/tcp": [{"HostPort": "32002"}]}
    container = InspectedContainer(
        labels={"minikn.io/port": "8080", "minikn.io/grpc-port": "8081"},
        attrs={"NetworkSettings": {"Ports": ports}},
    )
    backend = DockerBackend(ReplicasConfig(), client=None)
    backend._mode = mode  # type: ignore[assignment]  # as start() would find it
    handle = backend._handle(container, 8080)
    assert (handle.host, handle.port, handle.grpc_port) == expected
