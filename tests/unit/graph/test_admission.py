"""InferenceGraph admission: KServe's webhook rules and messages, plus references and cycles."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikn.api.documents import Document
from minikn.api.graph import InferenceGraph
from minikn.api.graph_validation import find_cycle, graph_annotations, parse_graph
from minikn.config import Settings
from minikn.core.errors import InvalidInput

GOOD: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "InferenceGraph",
    "metadata": {"name": "dogs"},
    "spec": {
        "minReplicas": 0,
        "maxReplicas": 3,
        "scaleTarget": 5,
        "scaleMetric": "concurrency",
        "nodes": {
            "root": {
                "routerType": "Sequence",
                "steps": [{"serviceName": "cat-dog"}, {"nodeName": "split", "data": "$request"}],
            },
            "split": {
                "routerType": "Splitter",
                "steps": [
                    {"serviceName": "a", "weight": 20},
                    {"serviceName": "b", "weight": 80},
                ],
            },
        },
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    *parents, last = path.split("/")
    node: Any = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key: Any = int(last) if isinstance(node, list) else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return body


def test_a_valid_graph_is_admitted_with_its_scaling_annotations() -> None:
    parsed = parse_graph(Document("g.yaml", 0, GOOD), Settings())
    assert parsed.name == "dogs"
    assert graph_annotations(parsed.graph, Settings()) == {
        "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
        "autoscaling.knative.dev/min-scale": "0",
        "autoscaling.knative.dev/max-scale": "3",
        "autoscaling.knative.dev/target": "5",
        "autoscaling.knative.dev/metric": "concurrency",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            _with("metadata/name", "Dogs"),
            'The InferenceGraph "Dogs" is invalid: a InferenceGraph name must consist of lower',
        ),
        (
            _with("spec/nodes", {"main": {"routerType": "Sequence"}}),
            "root node not found, InferenceGraph needs a node with name 'root'",
        ),
        (
            _with("spec/nodes/split/steps/0/weight", 30),
            "InferenceGraph[dogs] Node[split] splitter node: the sum of traffic weights for all "
            "routing targets should be 100",
        ),
        (
            _with("spec/nodes/split/steps/0/weight", None),
            "InferenceGraph[dogs] Node[split] Route[a] missing the 'Weight'",
        ),
        (
            _with("spec/nodes/root/steps/0/nodeName", "split"),
            'Step 0 ("") in node "root" of InferenceGraph "dogs" specifies more than one of '
            "nodeName, serviceName, serviceUrl",
        ),
        (
            _with("spec/nodes/root/steps/0/serviceName", None),
            'Step 0 ("") in node "root" of InferenceGraph "dogs" does not specify an inference '
            "target",
        ),
        (
            _with("spec/nodes/root/steps", [{"name": "x", "serviceName": "a"}] * 2),
            'Node "root" of InferenceGraph "dogs" contains more than one step with name "x"',
        ),
        (
            _with("spec/nodes/root/steps/1/nodeName", "nowhere"),
            'spec.nodes.root.steps[1].nodeName: node "nowhere" does not exist in spec.nodes',
        ),
        (
            _with("spec/nodes/split/steps/0", {"nodeName": "root", "weight": 20}),
            "spec.nodes: the graph has a cycle: root -> split -> root",
        ),
        (
            _with("spec/nodes/root/steps/0", {"serviceUrl": "file:///etc/passwd"}),
            "must be an http or https URL",
        ),
        (
            _with("spec/nodes/root/steps/0/condition", "a.*"),
            "outside the gjson subset minikn evaluates",
        ),
        (_with("spec/minReplicas", 5), "'MinReplicas' cannot be greater than MaxReplicas"),
        (_with("spec/nodes/root/routerType", "Single"), "spec.nodes.root.routerType"),
        (_with("spec/surprise", 1), "spec.surprise: unknown field"),
    ],
)
def test_admission_refuses_with_kserves_message(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_graph(Document("g.yaml", 0, body), Settings())
    assert message in info.value.message
    assert info.value.message.startswith("g.yaml[0] InferenceGraph/")


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"root": ["a"], "a": ["b"], "b": []}, None),
        ({"root": ["root"]}, ["root", "root"]),
        ({"root": ["a", "b"], "a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"root": ["a", "a"], "a": []}, None),
    ],
)
def test_find_cycle(edges: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert find_cycle(edges) == cycle


def test_cpu_metric_selects_the_hpa_class() -> None:
    graph = InferenceGraph.model_validate(_with("spec/scaleMetric", "cpu"))
    annotations = graph_annotations(graph, Settings())
    assert annotations["autoscaling.knative.dev/class"] == "hpa.autoscaling.knative.dev"
