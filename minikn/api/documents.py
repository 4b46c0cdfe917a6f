"""Reading manifests: multi-document YAML from a file, a directory or stdin, one ``Document`` each.

A document remembers where it came from (file and index) so that every error can name it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minikn.core.errors import InvalidInput

__all__ = ["YAML_SUFFIXES", "Document", "load_paths", "parse_text", "yaml_files"]

YAML_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    """One document of a manifest stream."""

    source: str
    """The file it came from (``<stdin>``, ``<request>`` for API bodies)."""
    index: int
    """0-based position in its file."""
    body: Any
    """The parsed YAML (None when ``error`` is set)."""
    error: str | None = None
    """Why the text could not be parsed as YAML."""

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "")) if isinstance(self.body, dict) else ""

    @property
    def name(self) -> str:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns else "default"

    def where(self) -> str:
        """``file[index] Kind/name``, the prefix of every message about this document."""
        label = f"{self.source}[{self.index}]"
        if self.kind or self.name:
            label += f" {self.kind or '?'}/{self.name or '?'}"
        return label


def parse_text(text: str, source: str) -> list[Document]:
    """Split a YAML stream into documents (empty documents are skipped)."""
    try:
        bodies = [b for b in yaml.safe_load_all(text) if b is not None]
    except yaml.YAMLError as exc:
        return [Document(source, 0, None, error=f"invalid YAML: {_yaml_message(exc)}")]
    return [Document(source, i, body) for i, body in enumerate(bodies)]


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def yaml_files(directory: Path) -> list[Path]:
    """The manifest files of a directory, by name (not recursive, like ``kubectl apply -f``)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)


def _read(path: str) -> Iterable[Document]:
    if path == "-":
        return parse_text(sys.stdin.read(), "<stdin>")
    p = Path(path)
    if p.is_dir():
        docs: list[Document] = []
        for f in yaml_files(p):
            docs.extend(_read(str(f)))
        return docs
    try:
        text = p.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_text(text, str(p))


def load_paths(paths: Sequence[str]) -> list[Document]:
    """Every document in ``paths`` (files, directories, ``-`` for stdin), in order."""
    out: list[Document] = []
    for path in paths:
        out.extend(_read(path))
    return out
