"""minikn: a local, Kubernetes-free emulator of Knative Serving and KServe."""

__version__ = "0.1.0"
