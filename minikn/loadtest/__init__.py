"""``minikn load``: a load generator with a scale-from-zero report (closed and open model)."""

from minikn.loadtest.cli import add_load_arguments, load_command

__all__ = ["add_load_arguments", "load_command"]
