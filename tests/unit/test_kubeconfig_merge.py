"""Merging minikn's context into a kubeconfig keeps everything else and replaces only ours."""

from __future__ import annotations

from minikn.apiserver.kube.kubeconfig import kubeconfig, merge_kubeconfig
from minikn.cli.commands.kubeconfig import default_kubeconfig_path


def test_merge_keeps_other_contexts_and_replaces_minikns() -> None:
    existing = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod"}},
                     {"name": "minikn", "cluster": {"server": "https://old"}}],
        "users": [{"name": "prod", "user": {"token": "p"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
        "current-context": "prod",
    }  # fmt: skip
    ours = kubeconfig("https://127.0.0.1:6443", b"PEM", "tok")
    merged = merge_kubeconfig(existing, ours, make_current=False)
    assert [c["name"] for c in merged["clusters"]] == ["prod", "minikn"]
    assert merged["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert [u["name"] for u in merged["users"]] == ["prod", "minikn"]
    assert merged["current-context"] == "prod"
    assert merge_kubeconfig(existing, ours, make_current=True)["current-context"] == "minikn"
    assert merge_kubeconfig(None, ours, make_current=False)["current-context"] == "minikn"


def test_the_default_file_is_kubeconfigs_first_then_home() -> None:
    assert str(default_kubeconfig_path({"KUBECONFIG": "/a/x:/b/y"})) == "/a/x"
    assert default_kubeconfig_path({}).name == "config"
