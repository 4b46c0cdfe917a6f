"""The model-server image, built offline: wheels on the host, ``pip install --no-index`` inside.

Tagged ``minikn/modelserver:<hash of inputs>`` and ``:latest``; an unchanged build is skipped.
The inputs are the Dockerfile, the base image, the extras and minikn's own source.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minikn.config.loader import Settings, load_settings
from minikn.core.errors import PermanentError
from minikn.replicas.types import ImageNotFound

__all__ = [
    "DEFAULT_EXTRAS",
    "add_images_arguments",
    "build_model_server_image",
    "ensure_image",
    "images_command",
    "inputs_hash",
]

log = logging.getLogger("minikn.replicas.images")

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "docker" / "modelserver" / "Dockerfile"
DEFAULT_EXTRAS = "sklearn,xgboost,lightgbm,grpc"
"""The image's minikn extras: the model formats, and gRPC (``--grpc_port``, grpc-v2)."""
Progress = Callable[[str], None]


def _base_image(settings: Settings | None, base_image: str | None) -> str:
    if base_image:
        return base_image
    env = os.environ.get("MINIKN_BASE_IMAGE")
    if env:
        return env
    return (settings or Settings()).minikn.replicas.base_image


def inputs_hash(root: Path, base_image: str, base_id: str, extras: str) -> str:
    """A short hash of everything the image is built from (blocking: reads the source tree)."""
    h = hashlib.sha256()
    for part in (base_image, base_id, extras):
        h.update(part.encode() + b"\0")
    files = [root / "pyproject.toml", root / "docker" / "modelserver" / "Dockerfile"]
    files += sorted(p for p in (root / "minikn").rglob("*") if p.is_file() and _is_source(p))
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")


def _image_id(client: Any, ref: str) -> str | None:
    import docker.errors

    try:
        return str(client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None


def build_model_server_image(
    settings: Settings | None = None,
    *,
    base_image: str | None = None,
    extras: str = DEFAULT_EXTRAS,
    force: bool = False,
    progress: Progress | None = None,
    client: Any = None,
) -> str:
    """Build (or find) the model-server image; returns its hash tag. Blocking."""
    import docker.errors
    from docker.client import from_env

    say = progress or (lambda msg: log.info("%s", msg))
    if not DOCKERFILE.is_file():
        raise PermanentError(
            f"minikn images build needs a source checkout of minikn ({DOCKERFILE} is missing)"
        )
    client = client or from_env(timeout=600)
    repo = (settings or Settings()).minikn.replicas.model_server_image
    base = _base_image(settings, base_image)
    base_id = _image_id(client, base) or ""
    tag = f"{repo}:{inputs_hash(REPO_ROOT, base, base_id, extras)}"
    if not force and _image_id(client, tag) is not None:
        client.images.get(tag).tag(repo, "latest")
        say(f"{tag} is up to date (inputs unchanged); tagged {repo}:latest")
        return tag
    context = REPO_ROOT / "build" / "modelserver"
    wheels = context / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for stale in wheels.glob("minikn-*.whl"):
        stale.unlink()  # never ship a stale minikn wheel of the same version
    shutil.copy(DOCKERFILE, context / "Dockerfile")
    say(f"building wheels for minikn[{extras}] on the host")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
          "--wheel-dir", str(wheels), f"{REPO_ROOT}[{extras}]"])  # fmt: skip
    say(f"building {tag} on {base}")
    try:
        for chunk in client.api.build(
            path=str(context), tag=tag, buildargs={"BASE_IMAGE": base, "EXTRAS": extras},
            rm=True, decode=True, pull=False,
        ):  # fmt: skip
            if "error" in chunk:
                raise PermanentError(f"building {tag} failed: {chunk['error'].strip()}")
            line = str(chunk.get("stream", "")).rstrip()
            if line:
                say(line)
    except docker.errors.APIError as exc:
        raise PermanentError(f"building {tag} failed: {exc}") from exc
    client.images.get(tag).tag(repo, "latest")
    say(f"built {tag} (and {repo}:latest)")
    return tag


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True)
    except subprocess.CalledProcessError as exc:
        raise PermanentError(f"{' '.join(cmd[:4])} ... failed with code {exc.returncode}") from exc


def ensure_image(client: Any, image: str) -> None:
    """Raise ImageNotFound (which names the command that builds it) unless ``image`` exists."""
    if _image_id(client, image) is None:
        raise ImageNotFound(image)


def add_images_arguments(parser: argparse.ArgumentParser) -> None:
    """``minikn images build [--base-image IMG] [--extras X] [--force]``."""
    sub = parser.add_subparsers(dest="images_command", required=True)
    build = sub.add_parser("build", help="build the model-server image from the repo, offline")
    build.add_argument("--base-image", help="base image (default: MINIKN_BASE_IMAGE or config)")
    build.add_argument("--extras", default=DEFAULT_EXTRAS, help="minikn extras to install")
    build.add_argument("--force", action="store_true", help="rebuild even if inputs are unchanged")
    build.add_argument("--config", help="platform config file (for baseImage/modelServerImage)")


def images_command(args: argparse.Namespace) -> int:
    """Run ``minikn images ...``; returns the exit code."""
    from rich.console import Console

    console = Console(stderr=True)
    settings = load_settings(getattr(args, "config", None))
    with console.status("building the model-server image") as status:

        def progress(msg: str) -> None:
            status.update(msg[:120])
            console.print(msg, style="dim", markup=False, highlight=False)

        try:
            tag = build_model_server_image(
                settings, base_image=args.base_image, extras=args.extras, force=args.force,
                progress=progress,
            )  # fmt: skip
        except PermanentError as exc:
            console.print(f"error: {exc.message}", style="red", markup=False)
            return 1
    print(tag)
    return 0
