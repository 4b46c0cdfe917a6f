"""``minikn`` subcommands: one module each, registered in :data:`COMMAND_MODULES`.

A module defines ``register(subparsers) -> None``; the parser it adds sets ``func`` (``args ->
exit code``). Add a subcommand by writing a module and appending its name here.
"""

from __future__ import annotations

__all__ = ["COMMAND_MODULES"]

COMMAND_MODULES: tuple[str, ...] = (
    "minikn.cli.commands.serve",
    "minikn.cli.commands.apply",
    "minikn.cli.commands.get",
    "minikn.cli.commands.describe",
    "minikn.cli.commands.delete",
    "minikn.cli.commands.validate",
    "minikn.cli.commands.revisions",
    "minikn.cli.commands.logs",
    "minikn.cli.commands.load",
    "minikn.cli.commands.simulate",
    "minikn.cli.commands.images",
    "minikn.cli.commands.demo",
    "minikn.cli.commands.kubeconfig",
    "minikn.cli.commands.config",
    "minikn.cli.commands.dashboard",
)
