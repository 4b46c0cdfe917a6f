"""``minikn`` subcommands: one module each, registered in :data:`COMMAND_MODULES`.

A module defines ``register(subparsers) -> None``; the parser it adds sets ``func`` (``args ->
exit code``). Add a subcommand by writing a module and appending its name here.
"""

from __future__ import annotations

__all__ = ["COMMAND_MODULES"]

COMMAND_MODULES: tuple[str, ...] = (
    "minikn.platform.commands.serve",
    "minikn.platform.commands.apply",
    "minikn.platform.commands.get",
    "minikn.platform.commands.describe",
    "minikn.platform.commands.delete",
    "minikn.platform.commands.validate",
    "minikn.platform.commands.revisions",
    "minikn.platform.commands.logs",
    "minikn.platform.load.cli",
    "minikn.platform.commands.simulate",
    "minikn.platform.commands.images",
    "minikn.platform.commands.demo",
)
