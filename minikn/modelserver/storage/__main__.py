"""``python -m minikn.modelserver.storage URI DEST``: KServe's storage-initializer, locally.

Fetches URI (through the cache) and copies the model directory's contents into DEST.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from minikn.config.local import StorageConfig
from minikn.core.errors import MiniknError
from minikn.modelserver.storage.store import ModelStore

__all__ = ["main"]

log = logging.getLogger("minikn.modelserver.storage")


def _copy(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, dirs_exist_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("MINIKN_LOG_LEVEL", "INFO"))
    parser = argparse.ArgumentParser(prog="python -m minikn.modelserver.storage")
    parser.add_argument("uri", help="storageUri: path, file://, http(s)://, s3://, pvc://, gs://")
    parser.add_argument("dest", help="directory to fill (KServe: /mnt/models)")
    parser.add_argument(
        "--cache-dir",
        default=os.environ.get(
            "MINIKN_MODEL_CACHE", str(Path.home() / ".cache" / "minikn" / "models")
        ),
    )
    parser.add_argument("--allowed-root", action="append", default=[], dest="roots")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    store = ModelStore(StorageConfig(allowed_roots=args.roots), Path(args.cache_dir))
    try:
        path = asyncio.run(store.fetch(args.uri))
        _copy(path, Path(args.dest))
    except MiniknError as exc:
        log.error("storage: %s", exc.message)
        return 1
    log.info("storage: %s -> %s", args.uri, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
