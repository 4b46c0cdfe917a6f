"""The Kubernetes API surface: discovery, OpenAPI, object semantics, watch, tables, patches."""
