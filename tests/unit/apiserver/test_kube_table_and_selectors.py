"""Server-side Table output (the CRDs' JSONPath columns, kubectl's ages) and the label and field
selector parsers, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.apiserver.kube.context import fields_match, parse_field_selector
from minikn.apiserver.kube.objects import KubeError, labels_match, parse_label_selector
from minikn.apiserver.kube.table import human_duration, jsonpath, table, wants_table

OBJ: dict[str, Any] = {
    "metadata": {
        "name": "iris",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"serving.knative.dev/configuration": "iris-predictor"},
    },
    "status": {
        "conditions": [{"type": "PredictorReady", "status": "True"},
                       {"type": "Ready", "status": "False", "reason": "RevisionFailed"}],
        "components": {"predictor": {"traffic": [
            {"revisionName": "iris-predictor-00002", "percent": 20, "latestRevision": True},
            {"revisionName": "iris-predictor-00001", "percent": 80, "latestRevision": False,
             "tag": "prev"},
        ]}},
        "count": 3,
    },
}  # fmt: skip
_T = ".status.components.predictor.traffic"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".metadata.name", ["iris"]),
        (".status.conditions[?(@.type=='Ready')].status", ["False"]),
        (".status.conditions[?(@.type=='Ready')].reason", ["RevisionFailed"]),
        (_T + "[?(@.latestRevision==true)].percent", [20]),
        (_T + "[?(@.latestRevision==false)].revisionName", ["iris-predictor-00001"]),
        (_T + "[?(@.percent==80)].tag", ["prev"]),
        (_T + "[?(@.tag=='latest')].percent", []),
        (".metadata.labels['serving\\.knative\\.dev/configuration']", ["iris-predictor"]),
        (".status.missing.deeper", []),
        (".status.count.deeper", []),
        ("not a path", []),
    ],
)
def test_jsonpath_subset_of_the_crd_columns(path: str, expected: list[Any]) -> None:
    assert jsonpath(OBJ, path) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"), (-1.5, "0s"), (0, "0s"), (45, "45s"), (119, "119s"), (120, "2m"),
        (182, "3m2s"), (600, "10m"), (179 * 60 + 59, "179m"), (3 * 3600, "3h"),
        (5 * 3600 + 3 * 60, "5h3m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"), (8 * 86400, "8d"), (729 * 86400, "729d"),
        (730 * 86400, "2y"), (740 * 86400, "2y10d"), (8 * 365 * 86400, "8y"),
    ],
)  # fmt: skip
def test_ages_as_kubectl_prints_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_an_isvc_table_row_has_kserve_columns_and_the_age() -> None:
    now = 1767225600.0 + 3 * 86400 + 4 * 3600  # 2026-01-01 + 3d4h
    out = table("inferenceservices", [OBJ], now=now, resource_version="7")
    names = [c["name"] for c in out["columnDefinitions"]]
    assert names == ["Name", "URL", "Ready", "Prev", "Latest", "PrevRolledoutRevision",
                     "LatestReadyRevision", "Age"]  # fmt: skip
    assert out["rows"][0]["cells"] == [
        "iris", None, "False", 80, 20, "iris-predictor-00001", "iris-predictor-00002", "3d4h"
    ]  # fmt: skip
    assert out["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table("inferenceservices", [OBJ], now=now, include_object="None")["rows"][0].keys() == {
        "cells"
    }
    assert table("inferenceservices", [OBJ], now=now, headers=False)["columnDefinitions"] == []


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", True),
        ("application/json;as=Table;v=v2;g=meta.k8s.io", False),
        ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", False),
        ("application/yaml", False),
        ("", False),
    ],
)
def test_table_output_is_chosen_by_the_accept_header(accept: str, wanted: bool) -> None:
    assert wants_table(accept) is wanted


LABELS = {"team": "a", "tier": "gold"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("team=a", True), ("team==a", True), ("team=b", False),
        ("team!=b", True), ("team!=a", False), ("owner!=x", True),
        ("tier in (gold,silver)", True), ("tier in (silver)", False),
        ("tier notin (silver)", True), ("tier notin (gold, silver)", False),
        ("owner notin (x)", True), ("owner in (x)", False),
        ("team", True), ("owner", False), ("!owner", True), ("!team", False),
        ("team=a,tier in (gold),!owner", True), ("team=a,tier=silver", False),
    ],
)  # fmt: skip
def test_label_selectors(selector: str, matches: bool) -> None:
    assert labels_match(parse_label_selector(selector), LABELS) is matches


@pytest.mark.parametrize("selector", ["tier in gold", "tier in (gold", "a b"])
def test_malformed_label_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(KubeError) as caught:
        parse_label_selector(selector)
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")
    assert "unable to parse requirement" in caught.value.message


FIELDS = frozenset({"metadata.name", "metadata.namespace"})
SEEN = {"metadata.name": "iris", "metadata.namespace": "default"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True), ("metadata.name=iris", True), ("metadata.name==iris", True),
        ("metadata.name=other", False), ("metadata.name!=other", True),
        ("metadata.name!=iris", False), ("metadata.name=iris,metadata.namespace=default", True),
        ("metadata.name=iris,metadata.namespace!=default", False),
    ],
)  # fmt: skip
def test_field_selectors(selector: str, matches: bool) -> None:
    assert fields_match(parse_field_selector(selector, FIELDS), SEEN) is matches


@pytest.mark.parametrize("selector", ["spec.x=1", "x" * 5000])
def test_unsupported_or_long_field_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(KubeError) as caught:
        parse_field_selector(selector, FIELDS)
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")
