"""minikn.router."""
