"""minikn.modelserver."""
