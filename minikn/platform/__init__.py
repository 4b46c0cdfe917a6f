"""Process assembly: ``minikn serve`` wires control plane, API server, data path and ``--watch``."""
