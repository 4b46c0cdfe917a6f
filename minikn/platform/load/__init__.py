"""``minikn load``: a load generator with a scale-from-zero report (closed and open model)."""

from minikn.platform.load.cli import add_load_arguments, load_command, register

__all__ = ["add_load_arguments", "load_command", "register"]
