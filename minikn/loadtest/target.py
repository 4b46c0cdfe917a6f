"""What ``minikn load`` sends and where: a URL as given, or an ISVC's ingress URL, Host and input.

An ISVC target is a name (looked up in the examples directory and, when it answers, the platform
API) or a path to its YAML. Requests go to the ingress with ``Host: <name>.<namespace>.<domain>``
(KServe's Knative-mode URL; the ISVC's ``status.url`` wins when the API returns one) and the V1
``/v1/models/<name>:predict`` or V2 ``/v2/models/<name>/infer`` path. The body is ``--data FILE`` or
the ISVC's example input: its ``minikn.io/example-input`` annotation (what the shipped examples
carry), else a file beside its YAML (``<stem>-input.json``, ``<name>-input.json`` or the one
``*input*.json`` of the directory whose shape matches the protocol).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from minikn.core.errors import InvalidInput, NotFound

__all__ = [
    "EXAMPLE_INPUT_ANNOTATION",
    "IsvcInfo",
    "Protocol",
    "Target",
    "example_body",
    "find_example_input",
    "find_isvc_yaml",
    "isvc_from_doc",
    "model_path",
    "read_body",
    "resolve_host",
]

Protocol = Literal["v1", "v2"]
EXAMPLE_INPUT_ANNOTATION = "minikn.io/example-input"
_PROTOCOL_KEY = {"v1": "instances", "v2": "inputs"}


@dataclass(frozen=True, slots=True)
class IsvcInfo:
    """The parts of an InferenceService that ``minikn load`` needs."""

    name: str
    namespace: str
    protocol: Protocol
    status_url: str | None = None
    source: Path | None = None
    """The YAML file it was read from, when it came from one."""
    example_input: bytes | None = None
    """The ``minikn.io/example-input`` annotation, when set."""


@dataclass(frozen=True, slots=True)
class Target:
    """One resolved load target."""

    url: str
    host: str | None
    """Host header to send (None = the URL's own)."""
    body: bytes
    content_type: str = "application/json"
    isvc: IsvcInfo | None = None


def _protocol_of(spec: Any) -> Protocol:
    """``protocolVersion`` of the predictor's model (or legacy framework key); v1 by default."""
    predictor = spec.get("predictor", {}) if isinstance(spec, dict) else {}
    if isinstance(predictor, dict):
        for value in predictor.values():
            if isinstance(value, dict) and str(value.get("protocolVersion", "")).lower() == "v2":
                return "v2"
        if str(predictor.get("protocolVersion", "")).lower() == "v2":
            return "v2"
    return "v1"


def isvc_from_doc(
    doc: Any, *, default_namespace: str = "default", source: Path | None = None
) -> IsvcInfo | None:
    """The ISVC in a parsed YAML/JSON document, or None when it is not one."""
    if not isinstance(doc, dict) or doc.get("kind") != "InferenceService":
        return None
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    status = doc.get("status") or {}
    url = status.get("url") if isinstance(status, dict) else None
    annotations = meta.get("annotations") or {}
    example = annotations.get(EXAMPLE_INPUT_ANNOTATION) if isinstance(annotations, dict) else None
    return IsvcInfo(
        name=name,
        namespace=str(meta.get("namespace") or default_namespace),
        protocol=_protocol_of(doc.get("spec")),
        status_url=url if isinstance(url, str) and url else None,
        source=source,
        example_input=example.encode() if isinstance(example, str) and example else None,
    )


def _isvcs_in_file(path: Path, default_namespace: str) -> Iterator[IsvcInfo]:
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return
    for doc in docs:
        info = isvc_from_doc(doc, default_namespace=default_namespace, source=path)
        if info is not None:
            yield info


def find_isvc_yaml(target: str, *, namespace: str, examples_dir: Path | None) -> IsvcInfo | None:
    """The ISVC named by ``target``: a YAML file path, or a name defined under ``examples_dir``."""
    path = Path(target)
    if path.suffix in {".yaml", ".yml", ".json"} and path.is_file():
        found = next(_isvcs_in_file(path, namespace), None)
        if found is None:
            raise InvalidInput(f"{target}: no InferenceService in this file")
        return found
    if examples_dir is None or not examples_dir.is_dir():
        return None
    files = [*examples_dir.rglob("*.yaml"), *examples_dir.rglob("*.yml")]
    # A file named after the ISVC first: variants (a canary of it) may reuse the name.
    for candidate in sorted(files, key=lambda f: (f.stem != target, f)):
        for info in _isvcs_in_file(candidate, namespace):
            if info.name == target and info.namespace == namespace:
                return info
    return None


def _matches_protocol(path: Path, protocol: Protocol) -> bool:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and _PROTOCOL_KEY[protocol] in body


def find_example_input(info: IsvcInfo) -> Path | None:
    """The example request body that ships beside the ISVC's YAML, if any."""
    if info.source is None:
        return None
    folder = info.source.parent
    named = [
        folder / f"{stem}{suffix}"
        for stem in (info.source.stem, info.name)
        for suffix in ("-input.json", ".input.json", f"-{info.protocol}-input.json")
    ]
    for path in named:
        if path.is_file() and _matches_protocol(path, info.protocol):
            return path
    loose = [p for p in sorted(folder.glob("*input*.json")) if _matches_protocol(p, info.protocol)]
    return loose[0] if len(loose) == 1 else None


def example_body(info: IsvcInfo) -> bytes | None:
    """The ISVC's example request body: its annotation, else the input file beside its YAML."""
    if info.example_input is not None:
        return info.example_input
    path = find_example_input(info)
    return read_body(path) if path is not None else None


def model_path(name: str, protocol: Protocol) -> str:
    """The inference path of a model on the KServe V1 or V2 protocol."""
    if protocol == "v2":
        return f"/v2/models/{name}/infer"
    return f"/v1/models/{name}:predict"


def resolve_host(info: IsvcInfo, domain: str) -> str:
    """The Host header for an ISVC: its status URL's host, else ``<name>.<namespace>.<domain>``."""
    if info.status_url:
        host = urlsplit(info.status_url).hostname
        if host:
            return host
    return f"{info.name}.{info.namespace}.{domain}"


def read_body(path: Path) -> bytes:
    """A request body file, as bytes."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NotFound(f"cannot read request body {path}: {exc.strerror}") from exc
