"""Archive unpacking refuses entries that escape the target (zip-slip, links, absolute paths)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from minikn.core.errors import InvalidInput
from minikn.modelserver.storage.archive import archive_kind, safe_extract


def make_tar(path: Path, entries: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in entries:
            if info.isfile():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.tar.gz", "tar"),
        ("a.tgz", "tar"),
        ("A.ZIP", "zip"),
        ("a.tar", "tar"),
        ("model.bst", None),
    ],
)
def test_archive_kind(name: str, kind: str | None) -> None:
    assert archive_kind(name) == kind


def test_tar_with_a_nested_file_unpacks(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "m.tar.gz", [tar_entry("sub/model.joblib")])
    out = tmp_path / "out"
    out.mkdir()
    safe_extract(archive, out)
    assert (out / "sub" / "model.joblib").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (tar_entry("../evil"), "escapes"),
        (tar_entry("/etc/evil"), "absolute"),
        (tar_entry("link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (tar_entry("hard", tarfile.LNKTYPE, "../x"), "link"),
        (tar_entry("dev", tarfile.CHRTYPE), "not a regular file"),
    ],
)
def test_tar_escapes_are_refused(tmp_path: Path, entry: tarfile.TarInfo, message: str) -> None:
    archive = make_tar(tmp_path / "m.tgz", [entry])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InvalidInput, match=message):
        safe_extract(archive, out)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    "name", ["../../evil.txt", "/abs/evil.txt", "ok/../../evil.txt", "C:/evil.txt"]
)
def test_zip_slip_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model.joblib", b"fine")
        zf.writestr(name, b"evil")
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    with pytest.raises(InvalidInput, match=r"refused|escapes"):
        safe_extract(archive, out)
    assert list(out.iterdir()) == []


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidInput, match="link"):
        safe_extract(archive, tmp_path)


def test_corrupt_archive_is_invalid_input(tmp_path: Path) -> None:
    archive = tmp_path / "m.tar.gz"
    archive.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InvalidInput, match="corrupt archive"):
        safe_extract(archive, tmp_path)


@pytest.mark.parametrize(
    ("before", "after", "logged"),
    [
        (0, 10, False),
        (0, 64 * 2**20, True),
        (64 * 2**20 - 1, 64 * 2**20 + 5, True),
        (1, 2**20, False),
    ],
)
def test_progress_marks_every_64_mib(before: int, after: int, logged: bool) -> None:
    from minikn.modelserver.storage.http import progress_marks

    assert progress_marks(before, after) is logged
