"""The API server: minikn's REST API (Kubernetes-style paths), auth, logs and OpenAPI."""
