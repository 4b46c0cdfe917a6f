"""The ``minikn`` command: a registry of subcommand modules (see ``minikn.cli.commands``)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from minikn.cli.commands import COMMAND_MODULES
from minikn.core.errors import MiniknError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minikn", description="A local emulator of Knative Serving and KServe."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except MiniknError as exc:  # expected failures get one line, never a traceback
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `minikn ... | head`: stop quietly, as other Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
