"""Requests right after ``apply`` on a running platform (process backend, real sockets).

* A thousand ISVCs at zero, applied as one multi-document file through the API, are all routed
  when the apply returns; the first, middle and last each answer 200 after their cold start.
* A request to an ISVC whose first revision is still starting waits in the activator for it and
  answers 200; if that revision fails, the waiting request gets 503 with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from minikn.platform.server import Platform

from .platform_helpers import running_platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ZERO = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  annotations: {{autoscaling.knative.dev/initial-scale: "0"}}
spec:
  predictor:
    minReplicas: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""
BODY = {"instances": [[6.8, 2.8, 4.8, 1.4]]}
LIST = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path]]:
    config = {"config-autoscaler": {"allow-zero-initial-scale": True}}
    async with running_platform(tmp_path, config) as running:
        yield running


async def _predict(
    session: aiohttp.ClientSession, p: Platform, name: str
) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{p.ingress_port}/v1/models/{name}:predict"
    headers = {"Host": f"{name}.default.example.com"}
    async with session.post(url, json=BODY, headers=headers) as resp:
        return resp.status, await resp.json()


def _api_headers(p: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"}


async def test_a_thousand_zero_scale_isvcs_applied_in_one_file_each_answer_after_a_cold_start(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    names = [f"iris-{i:04d}" for i in range(1000)]
    text = "---".join(ZERO.format(name=n, model=model) for n in names)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{p.api_port}/api/v1/apply", data=text, headers=_api_headers(p)
        ) as resp:
            assert resp.status == 200, await resp.text()
            results = (await resp.json())["results"]
        assert len(results) == 1000
        assert p.dataplane is not None
        for name in (names[0], names[500], names[-1]):
            assert p.dataplane.replicas.status(f"{name}-predictor-00001").desired == 0
            assert await _predict(session, p, name) == (200, {"predictions": [1]})


async def test_a_request_right_after_apply_waits_for_the_first_revision(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    starting = ZERO.format(name="fresh", model=model).replace(
        '  annotations: {autoscaling.knative.dev/initial-scale: "0"}\n', ""
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{p.api_port}/api/v1/apply", data=starting, headers=_api_headers(p)
        ) as resp:
            assert resp.status == 200, await resp.text()
        # No wait for Ready: the revision is starting (initial scale 1) and has no traffic yet.
        comp = p.controller.get("default", "fresh")["status"]["components"]["predictor"]
        assert comp["traffic"] == []
        assert await _predict(session, p, "fresh") == (200, {"predictions": [1]})


async def test_requests_waiting_for_a_first_revision_that_fails_get_503_with_the_reason(
    platform: tuple[Platform, Path],
) -> None:
    p, model = platform
    broken = ZERO.format(name="broken", model=model.parent / "missing").replace(
        '  annotations: {autoscaling.knative.dev/initial-scale: "0"}\n', ""
    )
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{p.api_port}/api/v1/apply", data=broken, headers=_api_headers(p)
        ) as resp:
            assert resp.status == 200, await resp.text()
        status, body = await _predict(session, p, "broken")
    assert status == 503
    assert "StorageFailed" in str(body["error"]), body


async def test_a_restart_with_many_zero_scale_isvcs_routes_each_of_them(tmp_path: Path) -> None:
    """500 ISVCs applied one file, the platform stopped and started again on its state dir: the
    restored routes reach the first, middle and last (200 after a cold start), and a paged list
    through the API walks all of them."""
    config = {"config-autoscaler": {"allow-zero-initial-scale": True}}
    names = [f"iris-{i:03d}" for i in range(500)]
    async with running_platform(tmp_path, config) as (p, model):
        text = "---".join(ZERO.format(name=n, model=model) for n in names)
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{p.api_port}/api/v1/apply"
            async with session.post(url, data=text, headers=_api_headers(p)) as resp:
                assert resp.status == 200, await resp.text()
    async with (
        running_platform(tmp_path, config) as (p, model),
        aiohttp.ClientSession() as session,
    ):
        for name in (names[0], names[250], names[-1]):
            assert await _predict(session, p, name) == (200, {"predictions": [1]})
        listed: list[str] = []
        token = ""
        base = f"http://127.0.0.1:{p.api_port}{LIST}"
        while True:
            params = {"limit": "200", **({"continue": token} if token else {})}
            async with session.get(base, params=params, headers=_api_headers(p)) as resp:
                body = await resp.json()
            listed += [i["metadata"]["name"] for i in body["items"]]
            token = body["metadata"].get("continue", "")
            if not token:
                break
        assert listed == names
