"""minikn.replicas."""
