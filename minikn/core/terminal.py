"""The console every command prints through: piped output is wide, never cut at 80 columns."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console"]


def console() -> Console:
    # Pipes get a wide console so tables are never cut (kubectl does the same).
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
