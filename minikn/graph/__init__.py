"""The InferenceGraph router: KServe's ``cmd/router`` as a minikn replica (data path).

``spec`` reads the graph JSON, ``gjson`` and ``decide`` make the routing decisions (pure),
``executor`` runs a request through the nodes calling each step through the platform's ingress,
``server`` serves it (``python -m minikn.graph``).
"""

from minikn.graph.spec import GraphSpec, Node, Step, parse_graph_json

__all__ = ["GraphSpec", "Node", "Step", "parse_graph_json"]
