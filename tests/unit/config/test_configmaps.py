"""``minikn config export``'s ConfigMaps read back through the config loader give the same
settings: Knative's strings, KServe's JSON-in-string keys, the cluster-only fields dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from minikn.config.configmaps import CLUSTER_ONLY, settings_configmaps
from minikn.config.loader import ConfigError, Settings, load_settings, settings_from_mapping

_GROUPS = ("autoscaler", "defaults", "network", "deployment", "kserve")

TUNED = {
    "config-autoscaler": {
        "stable-window": "90s",
        "target-burst-capacity": -1,
        "enable-scale-to-zero": False,
        "panic-threshold-percentage": 250.5,
        "scale-to-zero-grace-period": "1m30s",
        "max-scale-limit": 7,
    },
    "config-defaults": {"revision-timeout-seconds": 120, "container-concurrency": 4},
    "config-network": {"rollout-duration": "45s"},
    "config-deployment": {"progress-deadline": "2m"},
    "inferenceservice-config": {
        "ingress": {"ingressDomain": "models.example.org", "urlScheme": "https"},
        "batcher": {"maxBatchSize": 8, "maxLatency": 250},
        "logger": {"defaultUrl": "http://sink.example"},
        "router": {"headers": {"propagate": ["^X-Trace.*"]}},
    },
}


def _export(settings: Settings, path: Path) -> list[dict[str, object]]:
    docs = settings_configmaps(settings.model_dump(by_alias=True, mode="json"))
    path.write_text(yaml.safe_dump_all(docs, explicit_start=True))
    return docs


@pytest.mark.parametrize("config", [{}, TUNED], ids=["defaults", "tuned"])
def test_exported_configmaps_load_back_as_the_same_settings(
    config: dict[str, object], tmp_path: Path
) -> None:
    settings = settings_from_mapping(config)
    _export(settings, tmp_path / "exported.yaml")
    loaded = load_settings(tmp_path / "exported.yaml")
    for group in _GROUPS:
        assert getattr(loaded, group) == getattr(settings, group), group


def test_configmaps_use_knative_strings_and_kserve_json(tmp_path: Path) -> None:
    docs = {d["metadata"]["name"]: d for d in _export(settings_from_mapping(TUNED),
                                                      tmp_path / "e.yaml")}  # fmt: skip
    autoscaler = docs["config-autoscaler"]
    assert autoscaler["metadata"]["namespace"] == "knative-serving"
    assert autoscaler["data"]["stable-window"] == "90s"
    assert autoscaler["data"]["scale-to-zero-grace-period"] == "90s"
    assert autoscaler["data"]["enable-scale-to-zero"] == "false"
    assert autoscaler["data"]["target-burst-capacity"] == "-1"
    assert autoscaler["data"]["panic-threshold-percentage"] == "250.5"
    assert all(isinstance(v, str) for d in docs.values() for v in d["data"].values())
    assert docs["config-domain"]["data"] == {"models.example.org": ""}
    isvc = docs["inferenceservice-config"]
    assert isvc["metadata"]["namespace"] == "kserve"
    ingress = json.loads(isvc["data"]["ingress"])
    assert ingress["ingressDomain"] == "models.example.org"
    assert ingress["ingressGateway"] == CLUSTER_ONLY["ingress"]["ingressGateway"]
    assert json.loads(isvc["data"]["batcher"])["maxBatchSize"] == 8


def _configmap(name: str, data: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_configmap("config-gc", {}), "'config-gc' is not one minikn reads"),
        (_configmap("inferenceservice-config", {"ingress": "{"}), "key ingress: not JSON"),
        (_configmap("config-autoscaler", {"stable-window": "soon"}), "stable-window"),
    ],
)
def test_a_bad_configmap_is_refused_by_name(
    doc: dict[str, object], message: str, tmp_path: Path
) -> None:
    (tmp_path / "cm.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path / "cm.yaml")
