"""A multi-node ISVC (KServe's ``workerSpec``) on a running platform (process backend): admitted as
KServe's webhook admits it, then its revision fails with ``MultiNodeUnsupported``, which the
status conditions, one event, ``minikn describe`` and the ingress's 503 body all carry."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from .platform_helpers import conditions, describe, event_reasons, running_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: llama
  annotations:
    serving.kserve.io/autoscalerClass: none
spec:
  predictor:
    model:
      modelFormat: {name: huggingface}
      storageUri: pvc://llama-pvc/Llama-3.1-8B
    workerSpec:
      pipelineParallelSize: 2
      tensorParallelSize: 1
"""
REV = "llama-predictor-00001"


async def test_a_workerspec_isvc_is_admitted_and_fails_with_multinode_unsupported_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_platform(tmp_path) as (p, _):
        api = f"http://127.0.0.1:{p.api_port}"
        auth = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/yaml"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{api}/api/v1/apply", data=ISVC, headers=auth) as resp:
                assert resp.status == 200, await resp.text()

            await until(
                lambda: conditions(p, "llama").get("Ready", {}).get("status") == "False", 30
            )
            conds = conditions(p, "llama")
            for kind in ("PredictorReady", "Ready"):
                assert conds[kind]["reason"] == "MultiNodeUnsupported"
                assert "KServe's multi-node (Ray) runtime" in conds[kind]["message"]
                assert "across 2 nodes, 1 GPUs each" in conds[kind]["message"]
            assert event_reasons(p, "llama").count("MultiNodeUnsupported") == 1

            url = f"http://127.0.0.1:{p.ingress_port}/v1/models/llama:predict"
            host = {"Host": "llama.default.example.com"}
            async with session.post(url, json={"instances": [1]}, headers=host) as resp:
                body = await resp.text()
                assert resp.status == 503, body
            assert "MultiNodeUnsupported" in body
            assert "workerSpec" in body

        described = await describe(p, "llama", monkeypatch, capsys)
        assert "MultiNodeUnsupported" in described
        assert "KServe's multi-node (Ray) runtime" in described
        assert p.dataplane is not None
        assert p.dataplane.replicas.ready_count(REV) == 0
