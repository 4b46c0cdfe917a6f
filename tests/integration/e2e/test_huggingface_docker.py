"""``modelFormat: huggingface`` on the Docker backend: KServe's ``kserve-huggingfaceserver`` runtime
is selected, and an image the engine cannot pull says so as Kubernetes does: the revision is not
ready with ``ErrImagePull`` (then ``ImagePullBackOff``) carrying Docker's own error, in the ISVC's
conditions, its events, ``minikn describe`` and the ingress's 503 body.

The failure is made deterministic, whatever the network: the test applies the shipped
ClusterServingRuntime (as a KServe user edits one) with its image moved to a registry on
``127.0.0.1:1``, where nothing listens, so the engine's pull is refused at once (and never
downloads the real multi-GB image)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from minikn.config import Settings
from minikn.config.paths import config_dir
from minikn.platform.server import Platform
from minikn.replicas.types import LABEL_ISVC

from .platform_helpers import conditions, describe, event_reasons, started_platform, until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(180)]

NETWORK = "minikn-test-hf-pull"
SHIPPED = config_dir() / "runtimes" / "kserve-huggingfaceserver.yaml"
UNPULLABLE_REGISTRY = "127.0.0.1:1"
ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: hf
spec:
  predictor:
    model:
      modelFormat: {name: huggingface}
      args: [--model_id=distilbert/distilbert-base-uncased]
"""
REV = "hf-predictor-00001"


def _runtime_with_unpullable_image() -> tuple[str, str]:
    """(the shipped runtime's image, the YAML of the same runtime pulling from nowhere)."""
    doc = yaml.safe_load(SHIPPED.read_text())
    container = doc["spec"]["containers"][0]
    shipped = container["image"]
    container["image"] = f"{UNPULLABLE_REGISTRY}/{shipped}"
    return shipped, yaml.safe_dump(doc)


@pytest.fixture
def cleanup(docker_client: Any, session_networks: set[str]) -> Iterator[None]:
    session_networks.add(NETWORK)
    yield
    for c in docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": f"{LABEL_ISVC}=hf"}
    ):
        c.remove(force=True)


@pytest.fixture
async def platform(tmp_path: Path, cleanup: None) -> AsyncIterator[Platform]:
    settings = Settings.model_validate({"minikn": {"replicas": {"dockerNetwork": NETWORK}}})
    async with started_platform(tmp_path, settings, "docker") as p:
        yield p


async def test_huggingface_selects_kserves_runtime_and_a_failed_pull_says_why(
    platform: Platform, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = platform
    shipped, runtime = _runtime_with_unpullable_image()
    assert shipped.startswith("kserve/huggingfaceserver:")
    image = f"{UNPULLABLE_REGISTRY}/{shipped}"
    api = f"http://127.0.0.1:{p.api_port}"
    auth = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{api}/api/v1/apply", data=runtime + "---\n" + ISVC, headers=auth
        ) as resp:
            assert resp.status == 200, await resp.text()

        (rev,) = p.controller.revisions("default", "hf")
        assert rev.model is not None
        assert (rev.model.runtime, rev.container.image) == ("kserve-huggingfaceserver", image)
        assert "--model_name=hf" in rev.container.args

        # The first failed pull: ErrImagePull with Docker's error, one event.
        await until(lambda: "ErrImagePull" in event_reasons(p, "hf"), 60)
        ready = conditions(p, "hf")["Ready"]
        assert ready["status"] == "False"
        assert ready["reason"] in ("ErrImagePull", "ImagePullBackOff")
        assert image in ready["message"]
        assert "connection refused" in ready["message"]  # Docker's own words

        # The next attempt backs off, as the kubelet does, still carrying Docker's error.
        await until(lambda: "ImagePullBackOff" in event_reasons(p, "hf"), 60)
        assert event_reasons(p, "hf").count("ErrImagePull") == 1
        ready = conditions(p, "hf")["Ready"]
        assert ready["reason"] == "ImagePullBackOff"
        assert f'Back-off pulling image "{image}"' in ready["message"]
        assert "connection refused" in ready["message"]

        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/hf:predict"
        host = {"Host": "hf.default.example.com"}
        async with session.post(url, json={"instances": ["hi"]}, headers=host) as resp:
            body = await resp.text()
            assert resp.status == 503, body
        assert "ImagePullBackOff" in body
        assert image in body

    described = await describe(p, "hf", monkeypatch, capsys)
    assert "ImagePullBackOff" in described
    assert "ErrImagePull" in described
    assert p.dataplane is not None
    assert p.dataplane.replicas.ready_count(REV) == 0
