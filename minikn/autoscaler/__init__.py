"""minikn.autoscaler."""
