"""InferenceGraphs through the real ``kubectl`` against a real ``minikn serve``: discovery, explain,
apply, get (KServe's printer columns), watch, wait, describe with events, patch, replace, delete;
and ``minikn get ig``/``describe ig`` through the same API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.kube.conftest import Served, need_kubectl

pytestmark = pytest.mark.timeout(300)

_TARGET = "http://127.0.0.1:9/v1/models/absent:predict"


def _graph(name: str, labels: dict[str, str] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "InferenceGraph",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "nodes": {
                    "root": {
                        "routerType": "Sequence",
                        "steps": [{"name": "only", "serviceUrl": _TARGET}],
                    }
                }
            },
        }
    )


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_kubectl_discovers_and_explains_inferencegraphs(served: Served) -> None:
    need_kubectl()
    resources = served.kubectl("api-resources").stdout.splitlines()
    row = next(r.split() for r in resources if r.startswith("inferencegraphs "))
    assert row == ["inferencegraphs", "ig", "serving.kserve.io/v1alpha1", "true", "InferenceGraph"]
    isvc_row = next(r.split() for r in resources if r.startswith("inferenceservices "))
    assert isvc_row[2] == "serving.kserve.io/v1beta1"  # still the group's preferred version
    spec = served.kubectl("explain", "inferencegraph.spec").stdout
    assert "KIND:       InferenceGraph" in spec
    assert "VERSION:    v1alpha1" in spec
    for field in ("nodes", "minReplicas", "scaleMetric", "routerTimeouts"):
        assert field in spec
    nodes = served.kubectl("explain", "inferencegraph.spec.nodes").stdout
    assert "FIELD: nodes" in nodes
    step = served.kubectl("explain", "inferencegraph.spec.nodes.steps").stdout
    for field in ("serviceName", "serviceUrl", "condition", "dependency", "weight"):
        assert field in step


def test_kubectl_apply_get_patch_replace_delete_a_graph(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    f = _write(tmp_path, "g.yaml", _graph("kg-a", {"team": "g"}))
    assert served.kubectl("apply", "-f", f).stdout.strip() == (
        "inferencegraph.serving.kserve.io/kg-a created"
    )
    assert "unchanged" in served.kubectl("apply", "-f", f).stdout
    created = yaml.safe_load(served.kubectl("get", "ig", "kg-a", "-o", "yaml").stdout)
    assert created["kind"] == "InferenceGraph"
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in meta["annotations"]
    assert created["status"]["deploymentMode"] == "Knative"
    assert created["spec"]["nodes"]["root"]["steps"][0]["serviceUrl"] == _TARGET
    again = served.kubectl("create", "-f", f, check=False)
    assert 'inferencegraphs.serving.kserve.io "kg-a" already exists' in again.stderr
    not_isvc = served.kubectl("get", "isvc", "kg-a", check=False)
    assert 'inferenceservices.serving.kserve.io "kg-a" not found' in not_isvc.stderr

    served.kubectl("patch", "ig", "kg-a", "--type", "merge", "-p",
                   '{"metadata":{"labels":{"x":"1"}}}')  # fmt: skip
    served.kubectl("patch", "ig", "kg-a", "--type", "json", "-p",
                   '[{"op":"add","path":"/spec/maxReplicas","value":2}]')  # fmt: skip
    got = served.kubectl(
        "get", "ig", "kg-a", "-o", "jsonpath={.metadata.labels.x} {.metadata.generation}"
    )
    assert got.stdout == "1 2"
    assert served.kubectl("get", "ig", "-l", "team=g", "-A", "-o", "name").stdout.split() == [
        "inferencegraph.serving.kserve.io/kg-a"
    ]
    stale = _write(tmp_path, "stale.yaml", yaml.safe_dump(created))
    conflict = served.kubectl("replace", "-f", stale, check=False)
    assert "(Conflict)" in conflict.stderr
    # The graph's router replica may report (a status change, a new resourceVersion) between the
    # get and the replace, as on a cluster: get the latest and try again, as a user would.
    for _ in range(10):
        current = served.kubectl("get", "ig", "kg-a", "-o", "yaml").stdout
        replaced = served.kubectl(
            "replace", "-f", _write(tmp_path, "cur.yaml", current), check=False
        )
        if "(Conflict)" not in replaced.stderr:
            break
    assert "replaced" in replaced.stdout, replaced.stderr

    ssa = _write(tmp_path, "ssa.yaml", _graph("kg-ssa"))
    assert "serverside-applied" in served.kubectl("apply", "--server-side", "-f", ssa).stdout
    served.kubectl("delete", "-f", ssa)
    assert '"kg-a" deleted' in served.kubectl("delete", "-f", f).stdout
    missing = served.kubectl("get", "ig", "kg-a", check=False)
    assert 'inferencegraphs.serving.kserve.io "kg-a" not found' in missing.stderr


def test_kubectl_waits_watches_and_describes_a_graph(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    f = _write(tmp_path, "b.yaml", _graph("kg-b"))
    served.kubectl("apply", "-f", f)
    served.kubectl("wait", "--for=condition=Ready", "ig/kg-b", "--timeout=90s", timeout=120)
    lines = served.kubectl("get", "ig").stdout.splitlines()
    assert lines[0].split() == ["NAME", "URL", "READY", "AGE"]
    row = next(r.split() for r in lines[1:] if r.startswith("kg-b "))
    assert row[1:3] == ["http://kg-b.default.example.com", "True"]
    assert not any(r.startswith("kg-b ") for r in served.kubectl("get", "isvc").stdout.split("\n"))

    served.watch_sees_a_label("ig", "kg-b")

    described = served.kubectl("describe", "ig", "kg-b").stdout
    assert "Kind:         InferenceGraph" in described
    assert "Events:" in described
    assert "RevisionCreated" in described
    assert "kg-b-router-00001" in described
    served.kubectl("delete", "-f", f)


def test_minikn_get_and_describe_graphs_through_the_api(served: Served, tmp_path: Path) -> None:
    env = {**os.environ, "MINIKN_STATE_DIR": str(served.state), "MINIKN_API_TOKEN": ""}

    def minikn(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "minikn.cli.main", *args, "--server", served.url],
            capture_output=True, text=True, timeout=60, check=False, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    minikn("apply", "-f", _write(tmp_path, "c.yaml", _graph("kg-c")))
    listed = minikn("get", "ig", "-o", "json")
    names = [i["metadata"]["name"] for i in json.loads(listed)["items"]]
    assert "kg-c" in names
    assert "kg-c" in minikn("describe", "ig", "kg-c")
    minikn("delete", "ig", "kg-c")
    assert "kg-c" not in minikn("get", "ig")
