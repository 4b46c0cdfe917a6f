"""The control plane: ISVC schema, validation, revisions, traffic, status, persistence, API, CLI."""
