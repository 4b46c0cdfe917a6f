"""InferenceGraphs in the Kubernetes API's pure pieces: the OpenAPI schema kubectl explains (from
minikn's pydantic graph types), KServe's printer columns, discovery."""

from __future__ import annotations

import json

from minikn.api.graph import GRAPH_API_VERSION
from minikn.apiserver.kube import discovery
from minikn.apiserver.kube.openapi import gv_document, schema_components, v2_document, v3_index
from minikn.apiserver.kube.table import table

_PREFIX = "io.kserve.serving.v1alpha1"


def test_graph_schema_is_generated_from_the_graph_types_with_its_gvk() -> None:
    schemas = schema_components(GRAPH_API_VERSION, "#/definitions/")
    top = schemas[f"{_PREFIX}.InferenceGraph"]
    assert top["x-kubernetes-group-version-kind"] == [
        {"group": "serving.kserve.io", "kind": "InferenceGraph", "version": "v1alpha1"}
    ]
    spec = schemas[f"{_PREFIX}.InferenceGraphSpec"]
    assert {"nodes", "minReplicas", "maxReplicas", "scaleMetric", "routerTimeouts"} <= set(
        spec["properties"]
    )
    nodes = spec["properties"]["nodes"]["additionalProperties"]
    assert nodes["allOf"] == [{"$ref": f"#/definitions/{_PREFIX}.InferenceRouter"}]
    step = schemas[f"{_PREFIX}.InferenceStep"]["properties"]
    assert step["dependency"]["enum"] == ["Soft", "Hard"]
    assert {"serviceName", "serviceUrl", "nodeName", "condition", "weight"} <= set(step)


def test_openapi_documents_name_the_graph_group_version() -> None:
    assert f"apis/{GRAPH_API_VERSION}" in v3_index()["paths"]
    v3 = json.loads(gv_document(GRAPH_API_VERSION))
    assert (
        f"/apis/{GRAPH_API_VERSION}/namespaces/{{namespace}}/inferencegraphs/{{name}}"
        in (v3["paths"])
    )
    v2 = json.loads(v2_document())
    assert f"{_PREFIX}.InferenceGraph" in v2["definitions"]
    assert "io.kserve.serving.v1beta1.InferenceService" in v2["definitions"]


def test_graph_table_has_kserves_printer_columns() -> None:
    graph = {
        "metadata": {"name": "g", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "status": {
            "url": "http://g.default.example.com",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    out = table("inferencegraphs", [graph], now=1704067230.0)
    assert [c["name"] for c in out["columnDefinitions"]] == ["Name", "URL", "Ready", "Age"]
    assert out["rows"][0]["cells"] == ["g", "http://g.default.example.com", "True", "30s"]


def test_discovery_serves_inferencegraphs_beside_the_preferred_v1beta1() -> None:
    listed = discovery.resource_list(GRAPH_API_VERSION)
    assert listed is not None
    graphs = listed["resources"][0]
    assert (graphs["name"], graphs["kind"], graphs["shortNames"]) == (
        "inferencegraphs", "InferenceGraph", ["ig"],
    )  # fmt: skip
    assert graphs["namespaced"] is True
    group = discovery.api_group("serving.kserve.io")
    assert group is not None
    assert group["preferredVersion"]["version"] == "v1beta1"
    assert [v["version"] for v in group["versions"]] == ["v1beta1", "v1alpha1"]
