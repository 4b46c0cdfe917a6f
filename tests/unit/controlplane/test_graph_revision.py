"""The graph router's revision: ``router.splitterSeed`` reaches the router as ``--seed``."""

from __future__ import annotations

from minikn.api.documents import Document
from minikn.api.graph_validation import parse_graph
from minikn.config import Settings
from minikn.controlplane.graphs import build_graph_revision

GRAPH = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "InferenceGraph",
    "metadata": {"name": "ab"},
    "spec": {"nodes": {"root": {"routerType": "Splitter", "steps": [
        {"serviceName": "a", "weight": 50}, {"serviceName": "b", "weight": 50}]}}},
}  # fmt: skip


def _args(settings: Settings) -> tuple[str, ...]:
    parsed = parse_graph(Document("g.yaml", 0, GRAPH), settings)
    rev = build_graph_revision(parsed, generation=1, routed={}, settings=settings, created_at=0)
    return tuple(rev.container.args)


def test_the_splitter_seed_is_passed_to_the_router() -> None:
    seeded = Settings.model_validate({"inferenceservice-config": {"router": {"splitterSeed": 7}}})
    args = _args(seeded)
    assert args[args.index("--seed") + 1] == "7"


def test_without_a_seed_the_router_draws_from_the_system() -> None:
    assert "--seed" not in _args(Settings())
