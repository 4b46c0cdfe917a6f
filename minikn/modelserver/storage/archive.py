"""Safe unpacking of ``.tar.gz``/``.tgz``/``.tar``/``.zip`` model archives.

Every entry must land inside the target directory: absolute names, ``..`` components, links
(symbolic or hard) and device files are refused before anything is written, so an archive cannot
plant a file outside the cache (zip-slip) or point into the host.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from minikn.core.errors import InvalidInput

__all__ = ["ARCHIVE_SUFFIXES", "archive_kind", "safe_extract"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def archive_kind(name: str) -> str | None:
    """``"tar"`` or ``"zip"`` for an archive file name, else None."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    return None


def _check_name(name: str, archive: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise InvalidInput(f"{archive}: entry {name!r} has an absolute path; refused")
    if ".." in path.parts:
        raise InvalidInput(f"{archive}: entry {name!r} escapes the target directory; refused")


def _extract_tar(path: Path, target: Path) -> None:
    with tarfile.open(path, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            _check_name(m.name, path.name)
            if m.issym() or m.islnk():
                raise InvalidInput(f"{path.name}: entry {m.name!r} is a link; refused")
            if not (m.isfile() or m.isdir()):
                raise InvalidInput(f"{path.name}: entry {m.name!r} is not a regular file; refused")
        # filter="data" repeats the checks above inside the standard library.
        tar.extractall(target, members=members, filter="data")


def _extract_zip(path: Path, target: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for info in infos:
            _check_name(info.filename, path.name)
            mode = info.external_attr >> 16
            if mode and stat.S_ISLNK(mode):
                raise InvalidInput(f"{path.name}: entry {info.filename!r} is a link; refused")
        root = target.resolve()
        for info in infos:
            dest = (target / info.filename).resolve()
            if not dest.is_relative_to(root):
                raise InvalidInput(f"{path.name}: entry {info.filename!r} escapes the target")
        archive.extractall(target)


def safe_extract(path: Path, target: Path) -> None:
    """Unpack ``path`` into ``target`` (blocking: run it in a thread)."""
    kind = archive_kind(path.name)
    try:
        if kind == "tar":
            _extract_tar(path, target)
        elif kind == "zip":
            _extract_zip(path, target)
        else:
            raise InvalidInput(f"{path.name}: not an archive ({', '.join(ARCHIVE_SUFFIXES)})")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InvalidInput(f"{path.name}: corrupt archive: {exc}") from exc
