"""The process backend's command line and the default readiness probes (pure)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from minikn.core.revision import ContainerSpec, ModelRef, ProbeSpec, RevisionSpec
from minikn.replicas.probe import default_probe
from minikn.replicas.process_backend import process_command
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
