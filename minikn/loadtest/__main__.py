"""``python -m minikn.loadtest``: the same as ``minikn load``."""

from __future__ import annotations

import argparse
import sys

from minikn.loadtest.cli import DESCRIPTION, add_load_arguments, load_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minikn load", description=DESCRIPTION)
    add_load_arguments(parser)
    return load_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
