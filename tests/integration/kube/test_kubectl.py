"""The real ``kubectl`` against a real ``minikn serve``, through the kubeconfig serve writes:
every command a KServe user runs works and prints what it prints against a cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.kube.conftest import Served, need_kubectl

pytestmark = pytest.mark.timeout(300)


def _isvc(name: str, model: Path | str, labels: dict[str, str] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "predictor": {
                    "model": {"modelFormat": {"name": "sklearn"}, "storageUri": f"file://{model}"}
                }
            },
        }
    )


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_discovery_and_explain(served: Served) -> None:
    need_kubectl()
    version = served.kubectl("version", "-o", "json")
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"].endswith("-minikn")
    resources = served.kubectl("api-resources").stdout
    isvc_row = next(r for r in resources.splitlines() if "serving.kserve.io/v1beta1" in r)
    assert isvc_row.split()[:2] == ["inferenceservices", "isvc"]
    assert "serving.kubeflow.org/v1alpha2" in resources
    ksvc_row = next(r for r in resources.splitlines() if r.startswith("services "))
    assert ksvc_row.split()[:3] == ["services", "kservice,ksvc", "serving.knative.dev/v1"]
    explain = served.kubectl("explain", "inferenceservice.spec.predictor").stdout
    assert "KIND:       InferenceService" in explain
    assert "minReplicas" in explain
    assert "model" in explain
    namespaces = served.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/default" in namespaces


def test_apply_get_patch_replace_delete(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    f = _write(tmp_path, "a.yaml", _isvc("kc-a", served.model, {"team": "a"}))
    assert served.kubectl("apply", "-f", f).stdout.strip() == (
        "inferenceservice.serving.kserve.io/kc-a created"
    )
    assert "unchanged" in served.kubectl("apply", "-f", f).stdout
    created = json.loads(served.kubectl("get", "isvc", "kc-a", "-o", "json").stdout)
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"].isdigit()
    assert meta["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in meta["annotations"]
    again = served.kubectl("create", "-f", f, check=False)
    assert again.returncode != 0
    assert "(AlreadyExists)" in again.stderr

    served.kubectl(
        "patch", "isvc", "kc-a", "--type", "merge", "-p", '{"metadata":{"labels":{"x":"1"}}}'
    )
    add_min = '[{"op":"add","path":"/spec/predictor/minReplicas","value":1}]'
    served.kubectl("patch", "isvc", "kc-a", "--type", "json", "-p", add_min)
    strategic = served.kubectl("patch", "isvc", "kc-a", "-p", '{"metadata":{}}', check=False)
    assert "application/strategic-merge-patch+json is not supported" in strategic.stderr
    got = served.kubectl(
        "get", "isvc", "kc-a", "-o", "jsonpath={.metadata.labels.x} {.metadata.generation}"
    )
    assert got.stdout == "1 2"
    assert served.kubectl("get", "isvc", "-l", "team=a", "-A", "-o", "name").stdout.split() == [
        "inferenceservice.serving.kserve.io/kc-a"
    ]
    assert served.kubectl("get", "isvc", "-l", "team=b", "-o", "name").stdout == ""

    stale = _write(tmp_path, "stale.yaml", yaml.safe_dump(created))
    conflict = served.kubectl("replace", "-f", stale, check=False)
    assert "(Conflict)" in conflict.stderr
    assert "the object has been modified" in conflict.stderr
    # A replica report (a status change, a new resourceVersion) may land between the get and
    # the replace, as on a cluster: get the latest and try again, as a user would.
    for _ in range(10):
        current = served.kubectl("get", "isvc", "kc-a", "-o", "yaml").stdout
        replaced = served.kubectl(
            "replace", "-f", _write(tmp_path, "cur.yaml", current), check=False
        )
        if "(Conflict)" not in replaced.stderr:
            break
    assert "replaced" in replaced.stdout, replaced.stderr

    ssa = _write(tmp_path, "ssa.yaml", _isvc("kc-ssa", served.model))
    assert "serverside-applied" in served.kubectl("apply", "--server-side", "-f", ssa).stdout
    served.kubectl("delete", "-f", ssa)
    assert '"kc-a" deleted' in served.kubectl("delete", "-f", f).stdout
    missing = served.kubectl("get", "isvc", "kc-a", check=False)
    assert "(NotFound)" in missing.stderr


def test_table_wait_watch_and_describe(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    served.kubectl("apply", "-f", _write(tmp_path, "b.yaml", _isvc("kc-b", served.model)))
    served.kubectl("wait", "--for=condition=Ready", "isvc/kc-b", "--timeout=90s", timeout=120)
    lines = served.kubectl("get", "isvc").stdout.splitlines()
    assert lines[0].split() == [
        "NAME", "URL", "READY", "PREV", "LATEST", "PREVROLLEDOUTREVISION", "LATESTREADYREVISION",
        "AGE",
    ]  # fmt: skip
    row = next(r.split() for r in lines[1:] if r.startswith("kc-b "))
    assert row[1:5] == ["http://kc-b.default.example.com", "True", "100", "kc-b-predictor-00001"]

    never = _isvc("kc-never", "/nonexistent/model")
    served.kubectl("apply", "-f", _write(tmp_path, "n.yaml", never))
    waited = served.kubectl("wait", "--for=condition=Ready", "isvc/kc-never", "--timeout=2s",
                            check=False)  # fmt: skip
    assert waited.returncode != 0
    assert "timed out" in waited.stderr

    served.watch_sees_a_label("isvc", "kc-b")

    described = served.kubectl("describe", "isvc", "kc-b").stdout
    assert "Events:" in described
    assert "RevisionCreated" in described
    served.kubectl("delete", "isvc", "kc-b", "kc-never")


def test_minikn_kubeconfig_merges_a_context_kubectl_uses(served: Served, tmp_path: Path) -> None:
    need_kubectl()
    target = tmp_path / "config"
    empty = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    target.write_text(yaml.safe_dump(empty))
    out = subprocess.run(
        [sys.executable, "-m", "minikn.cli.main", "kubeconfig", "--state-dir", str(served.state),
         "--file", str(target)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    got = subprocess.run(
        [kubectl, "--context", "minikn", "get", "namespace", "default", "-o", "name"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "KUBECONFIG": str(target)},
    )  # fmt: skip
    assert got.stdout.strip() == "namespace/default", got.stderr


def test_config_export_asks_the_running_platform(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "exported.yaml"
    env = {**os.environ, "MINIKN_STATE_DIR": str(served.state), "MINIKN_API_TOKEN": ""}
    done = subprocess.run(
        [sys.executable, "-m", "minikn.cli.main", "config", "export", "--server", served.url,
         "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out.read_text())}
    assert sorted(docs) == [
        "config-autoscaler", "config-defaults", "config-deployment", "config-domain",
        "config-network", "inferenceservice-config",
    ]  # fmt: skip
    assert docs["config-autoscaler"]["data"]["stable-window"] == "60s"
    unauthenticated = subprocess.run(
        [sys.executable, "-m", "minikn.cli.main", "config", "export", "--server", served.url],
        capture_output=True, text=True, timeout=60, check=False,
        env={**env, "MINIKN_STATE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert unauthenticated.returncode == 1
    assert "token" in unauthenticated.stderr.lower()
