"""A state dir holding an ISVC that admission now refuses (``minReplicas: 2147483647``, admitted by
an older platform) still starts: that ISVC is failed with the reason and creates no replica, and
the valid ISVC beside it serves through the ingress (process backend, real sockets)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from minikn.api.documents import parse_text
from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import SystemClock
from minikn.core.events import EventSink
from minikn.modelserver.examples import ensure_example_models

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISVCS = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: good}}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: wedge}}
spec:
  predictor:
    minReplicas: 2147483647
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""


async def _write_state_with_an_older_platform(state_dir: Path, model: Path) -> None:
    lax = Settings.model_validate({"config-autoscaler": {"max-scale-limit": 0}})
    old = Controller(
        lax,
        clock=SystemClock(),
        store=StateStore(state_dir),
        registry=default_registry(),
        events=EventSink(),
    )
    await old.start()
    await old.apply(parse_text(ISVCS.format(model=model), "isvcs.yaml"))
    await old.close()


async def test_refused_isvc_in_state_dir_fails_and_the_rest_serves(tmp_path: Path) -> None:
    model = ensure_example_models(tmp_path / "models", ["sklearn-iris"])["sklearn-iris"]
    await _write_state_with_an_older_platform(tmp_path / "state", model)

    async with running_platform(tmp_path) as (p, _):
        assert p.dataplane is not None
        await until_ready(p, "good")
        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/good:predict"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json={"instances": [[6.8, 2.8, 4.8, 1.4]]}) as resp,
        ):
            assert resp.status == 200

        ready = next(
            c for c in p.controller.get("default", "wedge")["status"]["conditions"]
            if c["type"] == "Ready"
        )  # fmt: skip
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert "spec.predictor.minReplicas: 2147483647" in ready["message"]
        assert p.controller.revisions("default", "wedge") == []
        assert p.dataplane.replicas.status("wedge-predictor-00001").desired == 0
