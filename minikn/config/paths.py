"""Where minikn's shipped configuration (``config/``: defaults, runtimes, examples) lives."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["CONFIG_DIR_ENV", "config_dir"]

CONFIG_DIR_ENV = "MINIKN_CONFIG_DIR"


def config_dir() -> Path:
    """``$MINIKN_CONFIG_DIR``; else ``config/`` of the source checkout this package runs from;
    else the copy a wheel installs under ``<prefix>/share/minikn/config``."""
    if env := os.environ.get(CONFIG_DIR_ENV):
        return Path(env)
    checkout = Path(__file__).resolve().parents[2] / "config"
    if (checkout / "runtimes").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "minikn" / "config"
