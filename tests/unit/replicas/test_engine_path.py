"""A model dir seen inside the platform container is named by the engine host's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.replicas.docker_spec import engine_path

MOUNTS = [
    {"Type": "bind", "Source": "/home/u/minikn/config", "Destination": "/app/config"},
    {"Type": "volume", "Source": "/var/lib/docker/volumes/st/_data", "Destination": "/state"},
    {"Type": "bind", "Source": "/srv/models", "Destination": "/app/config/examples/models"},
]


@pytest.mark.parametrize(
    ("inside", "host"),
    [
        ("/state/models/abc", "/var/lib/docker/volumes/st/_data/models/abc"),
        ("/app/config/runtimes", "/home/u/minikn/config/runtimes"),
        # The longest matching destination wins.
        ("/app/config/examples/models/iris", "/srv/models/iris"),
        ("/state", "/var/lib/docker/volumes/st/_data"),
        # Under no mount: unchanged; a prefix that is not a parent does not match.
        ("/tmp/models", "/tmp/models"),
        ("/stateful/x", "/stateful/x"),
    ],
)
def test_paths_map_through_the_longest_matching_mount(inside: str, host: str) -> None:
    assert engine_path(Path(inside), MOUNTS) == Path(host)


def test_mounts_without_source_or_destination_are_ignored() -> None:
    assert engine_path(Path("/state/x"), [{"Destination": "/state"}]) == Path("/state/x")
