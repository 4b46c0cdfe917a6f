"""Where the ingress listens too, so that containers reach it at the Docker network's gateway."""

from __future__ import annotations

import pytest

from minikn.platform.dataplane import _containers_listen_at


@pytest.mark.parametrize(
    ("host", "gateway", "extra"),
    [
        ("127.0.0.1", "172.20.0.1", "172.20.0.1"),  # loopback only: containers need the gateway
        ("192.0.2.2", "172.20.0.1", "172.20.0.1"),  # another single interface: the same
        ("0.0.0.0", "172.20.0.1", None),  # every interface already includes the gateway
        ("::", "172.20.0.1", None),
        ("172.20.0.1", "172.20.0.1", None),  # already there
        ("127.0.0.1", None, None),  # no gateway on this host (published ports, process backend)
    ],
)
def test_the_ingress_listens_at_the_gateway_only_when_containers_cannot_reach_it_otherwise(
    host: str, gateway: str | None, extra: str | None
) -> None:
    assert _containers_listen_at(host, gateway) == extra
