"""Knative's read-only view with the real ``kubectl``: the Services, Configurations, Revisions and
Routes a cluster's KServe would have made, with their traffic, tags, conditions and replicas."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.kube.conftest import Served, need_kubectl

pytestmark = pytest.mark.timeout(300)


def _apply(served: Served, tmp_path: Path, predictor: dict[str, object]) -> None:
    doc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "kn-a", "namespace": "kn"},
        "spec": {"predictor": predictor},
    }
    path = tmp_path / "kn-a.yaml"
    path.write_text(yaml.safe_dump(doc))
    served.kubectl("apply", "-f", str(path))
    served.kubectl("wait", "--for=condition=Ready", "isvc/kn-a", "-n", "kn", "--timeout=90s",
                   timeout=120)  # fmt: skip


def _rows(text: str) -> dict[str, list[str]]:
    """``kubectl get`` output: row name -> cells (several tables: the headers are left out)."""
    return {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.strip() and not line.startswith("NAME ")
    }


def test_ksvc_revisions_and_routes_follow_the_isvc(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": f"file://{served.model}"}
    _apply(served, tmp_path, {"model": model})

    got = served.kubectl("get", "ksvc,configurations,revisions,routes", "-n", "kn").stdout
    headers = [line.split() for line in got.splitlines() if line.startswith("NAME ")]
    assert headers == [
        ["NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON"],
        ["NAME", "LATESTCREATED", "LATESTREADY", "READY", "REASON"],
        ["NAME", "CONFIG", "NAME", "GENERATION", "READY", "REASON", "ACTUAL", "REPLICAS",
         "DESIRED", "REPLICAS"],
        ["NAME", "URL", "READY", "REASON"],
    ]  # fmt: skip
    rows = _rows(got)
    url = "http://kn-a-predictor.kn.example.com"
    first = "kn-a-predictor-00001"
    assert rows["service.serving.knative.dev/kn-a-predictor"][1:] == [url, first, first, "True"]
    assert rows["configuration.serving.knative.dev/kn-a-predictor"][1:] == [first, first, "True"]
    assert rows[f"revision.serving.knative.dev/{first}"][1:] == [
        "kn-a-predictor", "1", "True", "1", "1"
    ]  # fmt: skip
    assert rows["route.serving.knative.dev/kn-a-predictor"][1:] == [url, "True"]
    owner = served.kubectl("get", "ksvc", "kn-a-predictor", "-n", "kn", "-o",
                           "jsonpath={.metadata.ownerReferences[0].kind}/"
                           "{.metadata.ownerReferences[0].name}").stdout  # fmt: skip
    assert owner == "InferenceService/kn-a"

    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    with subprocess.Popen(
        [kubectl, "get", "revisions", "-n", "kn", "-w", "--request-timeout=60s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "KUBECONFIG": str(served.kubeconfig)},
    ) as watch:  # fmt: skip
        try:
            assert watch.stdout is not None
            assert watch.stdout.readline().split()[0] == "NAME"
            assert watch.stdout.readline().split()[0] == first
            _apply(served, tmp_path, {"model": model, "canaryTrafficPercent": 20,
                                      "minReplicas": 2})  # fmt: skip
            second = "kn-a-predictor-00002"
            while (line := watch.stdout.readline()) and line.split()[0] != second:
                pass
            assert line.split()[:2] == [second, "kn-a-predictor"]
        finally:
            watch.kill()

    traffic = served.kubectl(
        "get", "route", "kn-a-predictor", "-n", "kn", "-o",
        "jsonpath={range .status.traffic[*]}{.revisionName}:{.percent}:{.tag};{end}",
    ).stdout  # fmt: skip
    assert traffic == f"{second}:20:;{first}:80:prev;"
    assert served.kubectl("get", "rev", second, "-n", "kn", "-o",
                          "jsonpath={.metadata.labels.serving\\.knative\\.dev/routingState}"
                          ).stdout == "active"  # fmt: skip

    for write in (["delete", "ksvc", "kn-a-predictor"], ["label", "rev", first, "x=y"]):
        refused = served.kubectl(*write, "-n", "kn", check=False)
        assert refused.returncode != 0
        assert "(MethodNotAllowed)" in refused.stderr

    served.kubectl("delete", "isvc", "kn-a", "-n", "kn")
    gone = served.kubectl("get", "ksvc,revisions,routes", "-n", "kn")
    assert gone.stdout == ""
    assert "No resources found in kn namespace." in gone.stderr
