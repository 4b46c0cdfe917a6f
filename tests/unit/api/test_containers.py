"""Tables for Kubernetes quantities and core/v1 Container parsing."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.api.containers import container_from_k8s, parse_cpu, parse_memory
from minikn.core.errors import InvalidInput
from minikn.core.revision import ProbeSpec, ResourceSpec


@pytest.mark.parametrize(
    ("q", "cores"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (1.5, 1.5),
        (3, 3.0),
        ("0.25", 0.25),
        ("100m", 0.1),
        ("1k", 1000.0),
    ],
)
def test_parse_cpu_reads_cores_and_millicores(q: str | float, cores: float) -> None:
    assert parse_cpu(q) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("q", "size"),
    [
        ("2Gi", 2147483648),
        ("500M", 500000000),
        ("128Mi", 134217728),
        ("1Ki", 1024),
        ("1k", 1000),
        (1024, 1024),
        ("1e3", 1000),
        ("1.5Gi", 1610612736),
        ("0.5", 1),
    ],
)
def test_parse_memory_reads_binary_and_decimal_suffixes(q: str | int, size: int) -> None:
    assert parse_memory(q) == size


@pytest.mark.parametrize("q", ["", "abc", "2GB", "-1", "1.2.3", "m"])
def test_garbage_quantities_are_invalid_input(q: str) -> None:
    with pytest.raises(InvalidInput):
        parse_cpu(q)
    with pytest.raises(InvalidInput):
        parse_memory(q)


def test_boolean_is_not_a_quantity() -> None:
    with pytest.raises(InvalidInput):
        parse_cpu(True)


def test_full_container_is_parsed() -> None:
    spec = container_from_k8s(
        {
            "name": "kserve-container",
            "image": "repo/img:1",
            "command": ["python"],
            "args": ["-m", "app", 8],
            "env": [{"name": "A", "value": "1"}, {"name": "B"}],
            "ports": [{"containerPort": 9000, "name": "http1"}, {"containerPort": 9001}],
            "resources": {
                "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                "requests": {"cpu": "100m"},
            },
            "readinessProbe": {
                "httpGet": {"path": "/v2/health/ready", "port": "http1"},
                "periodSeconds": 2,
                "failureThreshold": 5,
            },
            "workingDir": "/srv",
            "livenessProbe": {"tcpSocket": {"port": 1}},
            "volumeMounts": [{"name": "x", "mountPath": "/x"}],
        }
    )
    assert spec.image == "repo/img:1"
    assert spec.command == ("python",)
    assert spec.args == ("-m", "app", "8")
    assert spec.env == (("A", "1"), ("B", ""))
    assert spec.port == 9000
    assert spec.resources == ResourceSpec(cpu=0.5, memory=2**30, gpus=1)
    assert spec.readiness_probe == ProbeSpec(
        kind="http", path="/v2/health/ready", port=9000, period_seconds=2.0, failure_threshold=5
    )
    assert spec.working_dir == "/srv"


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ({"tcpSocket": {"port": 8080}}, ProbeSpec(kind="tcp", port=8080)),
        ({"exec": {"command": ["true"]}}, ProbeSpec(kind="exec", command=("true",))),
        ({"httpGet": {"port": "8081"}}, ProbeSpec(kind="http", path="/", port=8081)),
        (
            {"httpGet": {}, "initialDelaySeconds": 3},
            ProbeSpec(kind="http", initial_delay_seconds=3),
        ),
    ],
)
def test_probe_kinds(probe: dict[str, Any], expected: ProbeSpec) -> None:
    assert container_from_k8s({"readinessProbe": probe}).readiness_probe == expected


def test_defaults_for_an_empty_container() -> None:
    spec = container_from_k8s({}, default_port=8012)
    assert spec.image is None
    assert spec.port == 8012
    assert spec.resources == ResourceSpec()
    assert spec.readiness_probe is None


def test_requests_fill_in_for_missing_limits() -> None:
    spec = container_from_k8s({"resources": {"requests": {"cpu": "2", "memory": "512Mi"}}})
    assert spec.resources == ResourceSpec(cpu=2.0, memory=512 * 2**20)


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"ports": [{"name": "x"}]}, "containerPort"),
        ({"ports": [{"containerPort": 70000}]}, "not a port"),
        ({"env": [{"value": "1"}]}, "needs a name"),
        ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {}}}]}, "valueFrom"),
        ({"args": "--x"}, "args"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "cpu"),
        ({"resources": {"limits": {"nvidia.com/gpu": "two"}}}, "nvidia.com/gpu"),
        ({"readinessProbe": {"grpc": {"port": 1}}}, "httpGet, tcpSocket, exec"),
        ({"readinessProbe": {"httpGet": {"port": "missing"}}}, "named port"),
        ({"readinessProbe": {"exec": {"command": []}}}, "must not be empty"),
    ],
)
def test_bad_containers_name_the_field(container: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        container_from_k8s(container)
