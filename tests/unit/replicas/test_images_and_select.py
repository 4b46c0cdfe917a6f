"""Image build skipping by input hash, the missing-image error, and backend selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from minikn.config.loader import Settings
from minikn.core.errors import Unavailable
from minikn.replicas import images, select
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.process_backend import ProcessBackend
from minikn.replicas.types import ImageNotFound


def _tree(root: Path, body: str) -> Path:
    (root / "minikn").mkdir(parents=True)
    (root / "docker" / "modelserver").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "docker" / "modelserver" / "Dockerfile").write_text("FROM x\n")
    (root / "minikn" / "a.py").write_text(body)
    return root


def test_inputs_hash_changes_with_source_base_and_extras(tmp_path: Path) -> None:
    root = _tree(tmp_path, "x = 1\n")
    first = images.inputs_hash(root, "base", "sha256:1", "sklearn")
    assert first == images.inputs_hash(root, "base", "sha256:1", "sklearn")
    assert first != images.inputs_hash(root, "base", "sha256:2", "sklearn")
    assert first != images.inputs_hash(root, "other", "sha256:1", "sklearn")
    assert first != images.inputs_hash(root, "base", "sha256:1", "sklearn,xgboost")
    (root / "minikn" / "a.py").write_text("x = 2\n")
    assert first != images.inputs_hash(root, "base", "sha256:1", "sklearn")


@dataclass
class FakeImage:
    id: str
    tags: list[tuple[str, str]] = field(default_factory=list)

    def tag(self, repo: str, tag: str) -> None:
        self.tags.append((repo, tag))


@dataclass
class FakeImages:
    present: dict[str, FakeImage]

    def get(self, ref: str) -> FakeImage:
        if ref not in self.present:
            raise docker.errors.ImageNotFound(ref)
        return self.present[ref]


@dataclass
class FakeClient:
    images: FakeImages
    api: Any = None


def test_unchanged_inputs_skip_the_build_and_tag_latest() -> None:
    base = "minikn/base:bookworm"
    tag = f"minikn/modelserver:{images.inputs_hash(images.REPO_ROOT, base, 'sha256:b', 'sklearn')}"
    built = FakeImage("sha256:m")
    client = FakeClient(FakeImages({base: FakeImage("sha256:b"), tag: built}))
    said: list[str] = []
    got = images.build_model_server_image(
        base_image=base, extras="sklearn", client=client, progress=said.append
    )
    assert got == tag
    assert built.tags == [("minikn/modelserver", "latest")]
    assert "up to date" in said[0]


def test_missing_image_error_names_the_build_command() -> None:
    with pytest.raises(ImageNotFound) as err:
        images.ensure_image(FakeClient(FakeImages({})), "minikn/modelserver:latest")
    assert "`minikn images build`" in err.value.message


def test_process_backend_is_chosen_explicitly(tmp_path: Path) -> None:
    assert isinstance(
        select.select_backend("process", Settings(), state_dir=tmp_path), ProcessBackend
    )


def test_auto_falls_back_to_processes_without_an_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(select, "docker_client_or_none", lambda timeout=2: None)
    assert isinstance(select.select_backend("auto", Settings(), state_dir=tmp_path), ProcessBackend)
    with pytest.raises(Unavailable) as err:
        select.select_backend("docker", Settings(), state_dir=tmp_path)
    assert "no Docker engine answers" in err.value.message


def test_auto_picks_docker_when_an_engine_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(select, "docker_client_or_none", lambda timeout=2: object())
    assert isinstance(select.select_backend("auto", Settings(), state_dir=tmp_path), DockerBackend)


def test_a_stopped_engine_socket_means_no_engine_and_leaks_no_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gc
    import socket

    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stopped:
        stopped.bind(str(path))  # the file stays, nobody listens: what a stopped dockerd leaves
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    assert select.docker_client_or_none(timeout=1) is None
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'missing.sock'}")
    assert select.docker_client_or_none(timeout=1) is None
    gc.collect()  # docker-py's client, built against it, left its socket open (ResourceWarning)
