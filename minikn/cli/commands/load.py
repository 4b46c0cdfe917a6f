"""``minikn load``: registered here; the load generator itself lives in ``minikn.loadtest``."""

from __future__ import annotations

from minikn.cli.commands.common import SubParsers
from minikn.loadtest.cli import DESCRIPTION, add_load_arguments, load_command

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    """Add ``minikn load`` to the CLI (a ``minikn.cli.commands`` registry module)."""
    p = sub.add_parser("load", help="load-test an ISVC or URL, with a scale-from-zero report",
                       description=DESCRIPTION)  # fmt: skip
    add_load_arguments(p)
    p.set_defaults(func=load_command)
