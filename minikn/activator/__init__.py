"""minikn.activator."""
