"""Pure types and contracts shared by every layer of minikn (no I/O frameworks here)."""
