"""``minikn images build``: build the model-server image offline (see minikn.replicas.images)."""

from __future__ import annotations

from minikn.cli.commands.common import SubParsers
from minikn.replicas.images import add_images_arguments, images_command

__all__ = ["register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("images", help="build the model-server image (offline, from host wheels)")
    add_images_arguments(p)
    p.set_defaults(func=images_command)
