"""Reading manifests: multi-document YAML from a file, a directory or stdin, one ``Document`` each.

A document remembers where it came from (file and index) so that every error can name it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from minikn.core.errors import InvalidInput

__all__ = [
    "YAML_SUFFIXES",
    "Document",
    "DocumentLimits",
    "TooComplex",
    "content_digest",
    "load_paths",
    "parse_bounded",
    "parse_text",
    "yaml_files",
]

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
    digest: str | None = None
    """:func:`content_digest` of ``body``, when the reader computed it (the API does, off the
    event loop): an apply of a document equal to the one stored skips all work."""

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


def content_digest(body: Any) -> str:
    """A digest of a parsed document: equal digests mean equal documents, key order included.

    ``repr`` of what YAML and JSON parsing produce (dicts, lists, strings, numbers, booleans,
    None, dates) is exact and unambiguous (strings are quoted and escaped, ``1``, ``1.0`` and
    ``True`` differ), and it is one C call; a document that differs only in key order gets
    another digest, which only costs the work the digest would have saved.
    """
    text = repr(body).encode("utf-8", "backslashreplace")
    return hashlib.sha256(text).hexdigest()


def parse_text(text: str, source: str) -> list[Document]:
    """Split a YAML stream into documents (empty documents are skipped)."""
    try:
        bodies = [b for b in yaml.safe_load_all(text) if b is not None]
    except yaml.YAMLError as exc:
        return [Document(source, 0, None, error=f"invalid YAML: {_yaml_message(exc)}")]
    return [Document(source, i, body) for i, body in enumerate(bodies)]


@dataclass(frozen=True)
class DocumentLimits:
    """What one request body may expand to (``minikn.api``'s maxDocumentNodes/Depth)."""

    max_nodes: int
    max_depth: int


class TooComplex(InvalidInput):
    """A body over the node or depth limit (an alias bomb, a 10,000-level list): 400."""


class _Bounded(yaml.composer.Composer):
    """PyYAML's composer, counting every node it composes, an alias as the whole subtree it
    stands for, and refusing past the limits before anything is expanded in memory.

    Worked example (a "billion laughs"): ``a: &a [x, x, x, x, x, x, x, x, x, x]``,
    ``b: &b [*a, *a, ...]`` (10 times), ... 9 levels deep stands for 10^9 scalars; each ``*a``
    adds a's 11 nodes to the count, each ``*b`` adds 111, so the count passes 100,000 within a
    few hundred aliases and the parse stops there.
    """

    if TYPE_CHECKING:  # provided by the parser class mixed in below

        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...

    def _bound(self, limits: DocumentLimits) -> None:
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)  # type: ignore[arg-type]
        yaml.resolver.Resolver.__init__(self)  # type: ignore[arg-type]
        self._limits = limits
        self._total = 0
        self._frames: list[list[int]] = []  # [expanded nodes, height] of each open node
        self._anchored: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, height)

    def _count(self, nodes: int, height: int) -> None:
        """Admit ``nodes`` more nodes reaching ``height`` levels below the current one."""
        self._total += nodes
        if self._total > self._limits.max_nodes:
            raise TooComplex(
                f"the body holds more than {self._limits.max_nodes} nodes (aliases counted as "
                "what they expand to); split it or set minikn.api.maxDocumentNodes"
            )
        if len(self._frames) + height > self._limits.max_depth:
            raise TooComplex(
                f"the body nests deeper than {self._limits.max_depth} levels "
                "(minikn.api.maxDocumentDepth)"
            )

    def _close(self, nodes: int, height: int) -> None:
        """A child of the open node is complete: it holds ``nodes`` and ``height`` levels."""
        if self._frames:
            parent = self._frames[-1]
            parent[0] += nodes
            parent[1] = max(parent[1], height + 1)

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            nodes, height = self._anchored.get(id(node), (1, 1))
            self._count(nodes, height)
            self._close(nodes, height)
            return node
        anchor = getattr(self.peek_event(), "anchor", None)
        self._count(1, 1)
        self._frames.append([1, 1])
        try:
            node = super().compose_node(parent, index)
        finally:
            nodes, height = self._frames.pop()
        self._close(nodes, height)
        if anchor is not None:
            self._anchored[id(node)] = (nodes, height)
        return node


try:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _BoundedLoader(
        _Bounded, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml's event parser (fast, no recursion), the bounded composer, the safe
        constructor."""

        def __init__(self, stream: str, limits: DocumentLimits) -> None:
            CParser.__init__(self, stream)
            self._bound(limits)

except ImportError:  # PyYAML built without libyaml: the pure-Python reader and parser

    class _BoundedLoader(  # type: ignore[no-redef]
        _Bounded,
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str, limits: DocumentLimits) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            self._bound(limits)


def _walk_bounds(value: Any, limits: DocumentLimits) -> None:
    """The node and depth bounds for a JSON value (no aliases: a plain iterative walk)."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        total += 1
        if total > limits.max_nodes:
            raise TooComplex(
                f"the body holds more than {limits.max_nodes} nodes; split it or set "
                "minikn.api.maxDocumentNodes"
            )
        if depth > limits.max_depth:
            raise TooComplex(
                f"the body nests deeper than {limits.max_depth} levels "
                "(minikn.api.maxDocumentDepth)"
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


_NOT_JSON = object()


def parse_bounded(text: str, source: str, limits: DocumentLimits, *, as_json: bool) -> list[Any]:
    """The non-empty documents of a request body, refused (:class:`TooComplex`) past ``limits``.

    Blocking and CPU-bound: callers on the event loop run it in a thread. JSON goes through the
    C parser (the CLI sends JSON; a body that is not JSON is read as YAML); YAML through
    :class:`_BoundedLoader`. A syntax error is an :class:`InvalidInput` naming the line.
    """
    if as_json:
        try:
            body = json.loads(text)
        except RecursionError as exc:
            raise TooComplex(
                f"the body nests deeper than {limits.max_depth} levels "
                "(minikn.api.maxDocumentDepth)"
            ) from exc
        except ValueError:
            body = _NOT_JSON  # labelled JSON but not: YAML (a superset) may still read it
        if body is not _NOT_JSON:
            _walk_bounds(body, limits)
            return [] if body is None else [body]
    loader = _BoundedLoader(text, limits)
    try:
        bodies = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            body = loader.get_data()
            if body is not None:
                bodies.append(body)
        return bodies
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: invalid YAML: {_yaml_message(exc)}") from exc
    except RecursionError as exc:  # the depth bound should come first; never a 500
        raise TooComplex(f"{source}: the body nests too deeply") from exc
    finally:
        loader.dispose()


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
