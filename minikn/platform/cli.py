"""The ``minikn`` command (placeholder until the CLI lands)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("minikn: CLI not built yet")
    return 1
