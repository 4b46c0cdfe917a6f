"""The graph router's revision: ``router.splitterSeed`` reaches the router as ``--seed``; the
process backend runs it with arguments it accepts."""

from __future__ import annotations

import sys

from minikn.api.documents import Document
from minikn.api.graph_validation import parse_graph
from minikn.config import Settings
from minikn.controlplane.graphs import build_graph_revision
from minikn.graph.__main__ import _parser
from minikn.replicas.process_backend import process_command

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


def test_on_the_process_backend_the_router_gets_its_port_and_loopback_and_no_grpc_port() -> None:
    # The router takes KServe's --http_port, so it once passed for KServe's own server and was
    # given --grpc_port, which its argument parser refuses (CrashLoopBackOff, exit 2).
    parsed = parse_graph(Document("g.yaml", 0, GRAPH), Settings())
    rev = build_graph_revision(parsed, generation=1, routed={}, settings=Settings(), created_at=0)
    argv = process_command(rev, None, 4321, other_port=4322)
    assert argv[:3] == [sys.executable, "-m", "minikn.graph"]
    assert not any(a.startswith("--grpc_port") for a in argv)
    assert argv[argv.index("--http_port") + 1] == "4321"
    assert argv[-1] == "--host=127.0.0.1"
    assert _parser().parse_args(argv[3:]).http_port == 4321  # the router accepts them all
