"""The ingress: Host/path matching (pure), weighted revision pick, component chaining.

How other components reach a predictor through the router (so that chained traffic is split,
metered and autoscaled like any other): a transformer or explainer calls
``http://{predictor_host}/v1/models/<name>:predict``, as KServe's model servers do. The router
accepts two spellings of ``predictor_host`` from replicas:

- ``<isvc>-predictor.<ns>.<domain>:<ingress port>`` when that name resolves to the ingress
  (Docker: ``--add-host <name>:host-gateway``); the Host header decides;
- ``<ingress host>:<ingress port>/_host/<isvc>-predictor.<ns>`` for replicas that cannot resolve
  such names (local processes); the ``/_host/<host>`` prefix decides and is stripped.
"""

from minikn.router.router import REVISION_HEADER, Router

__all__ = ["REVISION_HEADER", "Router"]
