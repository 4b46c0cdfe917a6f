"""The process backend's command line and the default readiness probes (pure)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from minikn.config.local import ProcessImage
from minikn.core.revision import ContainerSpec, ModelRef, ProbeSpec, RevisionSpec
from minikn.replicas.probe import default_probe
from minikn.replicas.process_backend import HostImage, host_image, image_entry, process_command
from minikn.replicas.types import ReplicaStartError


def _spec(**kw: object) -> RevisionSpec:
    base: dict[str, object] = {
        "name": "m-predictor-00001", "isvc": "m", "component": "predictor", "generation": 1,
        "container": ContainerSpec(image="x"),
    }  # fmt: skip
    base.update(kw)
    return RevisionSpec.model_validate(base)


def test_builtin_server_runs_natively_on_the_host_model_dir_and_port() -> None:
    spec = _spec(
        builtin_server=True,
        container=ContainerSpec(
            image="minikn/modelserver:latest",
            command=("python", "-m", "minikn.modelserver"),
            args=("--model_name=m", "--model_dir=/mnt/models", "--http_port=8080"),
        ),
    )
    assert process_command(spec, Path("/cache/abc"), 4321) == [
        sys.executable, "-m", "minikn.modelserver",
        "--model_name=m", "--model_dir=/cache/abc", "--http_port=4321", "--host=127.0.0.1",
    ]  # fmt: skip


def test_builtin_server_gets_a_port_when_its_args_name_none() -> None:
    spec = _spec(builtin_server=True, container=ContainerSpec(args=("--http_port", "80")))
    assert process_command(spec, None, 99)[-3:] == ["--http_port", "99", "--host=127.0.0.1"]


def test_custom_model_server_container_listens_on_loopback_only() -> None:
    spec = _spec(
        container=ContainerSpec(
            image="minikn/modelserver:latest",
            command=("python", "-m", "minikn.modelserver"),
            args=("--model_name=t", "--host", "0.0.0.0", "--http_port", "8080"),
        )
    )
    assert process_command(spec, None, 4321) == [
        sys.executable, "-m", "minikn.modelserver",
        "--model_name=t", "--host", "127.0.0.1", "--http_port", "4321",
    ]  # fmt: skip


def test_builtin_server_host_is_forced_to_loopback() -> None:
    spec = _spec(builtin_server=True, container=ContainerSpec(args=("--host=0.0.0.0",)))
    assert process_command(spec, None, 99)[-2:] == ["--host=127.0.0.1", "--http_port=99"]


def test_other_commands_are_left_as_written() -> None:
    spec = _spec(container=ContainerSpec(command=("sh", "-c", "serve --host 0.0.0.0")))
    assert process_command(spec, None, 1) == ["sh", "-c", "serve --host 0.0.0.0"]


def test_custom_container_needs_a_command() -> None:
    with pytest.raises(ReplicaStartError) as err:
        process_command(_spec(), None, 1)
    assert err.value.reason == "NoCommand"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (
            {"model": ModelRef(name="m", format="sklearn")},
            ProbeSpec(kind="http", path="/v1/models/m", timeout_seconds=0.5),
        ),
        (
            {"model": ModelRef(name="m", format="x", protocol="v2")},
            ProbeSpec(kind="http", path="/v2/health/ready", timeout_seconds=0.5),
        ),
        ({}, ProbeSpec(kind="tcp", timeout_seconds=0.5)),
        (
            {"container": ContainerSpec(readiness_probe=ProbeSpec(kind="exec", command=("true",)))},
            ProbeSpec(kind="exec", command=("true",)),
        ),
    ],
)
def test_default_probe_table(kw: dict[str, object], expected: ProbeSpec) -> None:
    assert default_probe(_spec(**kw)) == expected


def _kserve_spec(
    *args: str, command: tuple[str, ...] = ("python",), port: int = 8080
) -> RevisionSpec:
    return _spec(
        container=ContainerSpec(image="reg/predictor:v1", command=command, args=args, port=port)
    )


def test_kserve_sdk_predictor_gets_its_http_and_grpc_ports_as_arguments() -> None:
    spec = _kserve_spec("predictor.py", "--model_name=custom-model")
    assert process_command(spec, None, 4321, other_port=4322) == [
        sys.executable, "predictor.py", "--model_name=custom-model",
        "--http_port=4321", "--grpc_port=4322",
    ]  # fmt: skip


def test_kserve_transformer_ports_replace_the_ones_it_was_given() -> None:
    spec = _kserve_spec(
        "-m", "transformer", "--predictor_host", "h:1/_host/p", "--http_port", "8080",
        "--grpc_port=8081",
    )  # fmt: skip
    assert process_command(spec, None, 7, other_port=8) == [
        sys.executable, "-m", "transformer", "--predictor_host", "h:1/_host/p",
        "--http_port", "7", "--grpc_port=8",
    ]  # fmt: skip


def test_kserve_grpc_predictor_declaring_the_grpc_port_is_served_on_the_replica_port() -> None:
    spec = _kserve_spec("predictor.py", "--model_name=m", port=8081)
    assert process_command(spec, None, 7, other_port=8)[-2:] == ["--http_port=8", "--grpc_port=7"]


def test_image_virtualenv_resolves_the_command_and_marks_kserve() -> None:
    host = HostImage(bin_dir=Path("/envs/kserve/bin"), kserve=True)
    spec = _kserve_spec("predictor.py", command=("/usr/local/bin/python",))
    assert process_command(spec, None, 7, host=host, other_port=8) == [
        "/envs/kserve/bin/python", "predictor.py", "--http_port=7", "--grpc_port=8",
    ]  # fmt: skip


def test_generic_server_keeps_its_arguments_and_reads_port_from_the_environment() -> None:
    spec = _kserve_spec("-m", "http.server", "--bind", "127.0.0.1")
    host = HostImage(bin_dir=Path("/envs/web/bin"), kserve=False)
    assert process_command(spec, None, 7, host=host, other_port=8) == [
        "/envs/web/bin/python", "-m", "http.server", "--bind", "127.0.0.1",
    ]  # fmt: skip


def test_commands_with_a_path_are_not_resolved_in_the_virtualenv() -> None:
    spec = _kserve_spec(command=("/opt/app/serve",))
    host = HostImage(bin_dir=Path("/envs/web/bin"), kserve=False)
    assert process_command(spec, None, 7, host=host) == ["/opt/app/serve"]


@pytest.mark.parametrize(
    ("image", "found"),
    [
        ("reg:5000/team/predictor:v1", "exact"),
        ("reg:5000/team/predictor:v2", "repo"),
        ("reg:5000/team/predictor@sha256:abc", "repo"),
        ("reg:5000/team/predictor", "repo"),
        ("reg:5000/team/other:v1", None),
        (None, None),
    ],
)
def test_process_images_match_the_exact_image_then_its_repository(
    image: str | None, found: str | None
) -> None:
    images = {
        "reg:5000/team/predictor:v1": ProcessImage(workingDir="exact"),
        "reg:5000/team/predictor": ProcessImage(workingDir="repo"),
    }
    entry = image_entry(images, image)
    assert (entry.working_dir if entry else None) == found


def test_host_image_detects_kserve_in_the_virtualenv(tmp_path: Path) -> None:
    (tmp_path / "lib/python3.11/site-packages/kserve").mkdir(parents=True)
    assert host_image(ProcessImage(virtualenv=str(tmp_path))).kserve is None
    (tmp_path / "lib/python3.11/site-packages/kserve/model_server.py").touch()
    assert host_image(ProcessImage(virtualenv=str(tmp_path))) == HostImage(
        bin_dir=tmp_path / "bin", kserve=True
    )
    assert host_image(ProcessImage(virtualenv=str(tmp_path), kserve=False)).kserve is False


def test_a_runtime_without_command_runs_the_entrypoint_its_image_maps_to() -> None:
    spec = _spec(
        container=ContainerSpec(image="kserve/huggingfaceserver:v0.15.2", args=("--model_name=m",))
    )
    with pytest.raises(ReplicaStartError, match="processImages") as err:
        process_command(spec, None, 7)
    assert err.value.reason == "NoCommand"
    host = HostImage(
        bin_dir=Path("/envs/hf/bin"), entrypoint=("python", "-m", "huggingfaceserver"), kserve=True
    )
    assert process_command(spec, None, 7, host=host, other_port=8) == [
        "/envs/hf/bin/python", "-m", "huggingfaceserver", "--model_name=m",
        "--http_port=7", "--grpc_port=8",
    ]  # fmt: skip


def test_graph_router_gets_its_http_port_and_loopback_but_no_grpc_port() -> None:
    spec = _spec(
        container=ContainerSpec(
            image="minikn/modelserver:latest",
            command=("python", "-m", "minikn.graph"),
            args=("--graph-json", "{}", "--http_port", "8080"),
        )
    )
    assert process_command(spec, None, 4321, other_port=4322) == [
        sys.executable, "-m", "minikn.graph", "--graph-json", "{}", "--http_port", "4321",
        "--host=127.0.0.1",
    ]  # fmt: skip
