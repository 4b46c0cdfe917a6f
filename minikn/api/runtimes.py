"""ServingRuntimes and ClusterServingRuntimes: parsing, KServe's selection algorithm, rendering.

Selection mirrors KServe's ``ModelSpec.GetSupportingRuntimes`` (pkg/apis/serving/v1beta1/
predictor_model.go):

- an explicit ``runtime:`` wins when it exists, is enabled and supports the protocol and the
  format (every ``supportedModelFormats`` entry counts; ``autoSelect`` is ignored);
- otherwise candidates are enabled single-model runtimes with an ``autoSelect`` entry for the
  format (``mt:<name>`` or ``mt:<name>:<version>``, versions compared as exact strings) that
  support the protocol (an empty ``protocolVersions`` supports all); namespaced runtimes come
  first, each list sorted by lowest protocol, newest first, then name, then stably by the
  format's ``priority`` descending (a priority beats none). The first candidate wins.

Only ``RuntimeRegistry.load`` does I/O (reading the YAML files).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minikn.api.containers import (
    apply_template,
    container_from_k8s,
    merge_container,
    with_image_tag,
)
from minikn.config.paths import config_dir
from minikn.core.errors import InvalidInput, PermanentError
from minikn.core.revision import ContainerSpec

__all__ = [
    "BUILTIN_IMAGE",
    "NoSupportingRuntime",
    "RuntimeDisabled",
    "RuntimeNotRecognized",
    "RuntimeRegistry",
    "ServingRuntime",
    "SupportedFormat",
    "default_registry",
    "render_container",
]

BUILTIN_IMAGE = "minikn/modelserver"
"""Runtimes whose image is this repository run minikn's own model server."""
API_VERSION = "serving.kserve.io/v1alpha1"
KINDS = ("ClusterServingRuntime", "ServingRuntime")
_PROTOCOL_ORDER = {"v1": 0, "v2": 1, "grpc-v1": 2, "grpc-v2": 3}
DEFAULT_DIR = config_dir() / "runtimes"


class NoSupportingRuntime(PermanentError):
    """No runtime serves this format over this protocol (ISVC condition ``NoSupportingRuntime``)."""

    def __init__(self, message: str, *, reason: str = "NoSupportingRuntime") -> None:
        super().__init__(message, reason=reason)


class RuntimeNotRecognized(NoSupportingRuntime):
    """An explicit ``runtime:`` names no known runtime."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="RuntimeNotRecognized")


class RuntimeDisabled(NoSupportingRuntime):
    """An explicit ``runtime:`` names a disabled runtime."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="RuntimeDisabled")


@dataclass(frozen=True)
class SupportedFormat:
    """One ``supportedModelFormats`` entry."""

    name: str
    version: str | None = None
    auto_select: bool = False
    priority: int | None = None

    def matches(self, model_format: str, version: str | None, *, explicit: bool) -> bool:
        if not explicit and not self.auto_select:
            return False
        if self.name != model_format:
            return False
        return version is None or self.version == version


@dataclass(frozen=True)
class ServingRuntime:
    """A parsed (Cluster)ServingRuntime."""

    name: str
    builtin: bool
    """True when it runs minikn's own model server (``python -m minikn.modelserver``)."""
    protocol_versions: tuple[str, ...]
    formats: tuple[SupportedFormat, ...] = ()
    container: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The ``kserve-container`` (or first container) as a core/v1 dict."""
    namespace: str | None = None
    """None for a ClusterServingRuntime."""
    disabled: bool = False
    multi_model: bool = False
    created: str = ""
    """metadata.creationTimestamp (RFC 3339 sorts as a string)."""
    server_type: str | None = None
    """Annotation ``serving.kserve.io/server-type`` (drives torchserve/mlserver defaults)."""

    def supports_protocol(self, protocol: str) -> bool:
        return not self.protocol_versions or protocol in self.protocol_versions

    def supports_format(self, model_format: str, version: str | None, *, explicit: bool) -> bool:
        return any(f.matches(model_format, version, explicit=explicit) for f in self.formats)

    def priority_for(self, model_format: str) -> int | None:
        found = [f.priority for f in self.formats if f.name == model_format and f.auto_select]
        return max((p for p in found if p is not None), default=None)

    def lowest_protocol(self) -> int:
        return min((_PROTOCOL_ORDER.get(p, 99) for p in self.protocol_versions), default=0)


def _format(entry: Any, where: str) -> SupportedFormat:
    if not isinstance(entry, Mapping) or not entry.get("name"):
        raise InvalidInput(f"{where}: each supportedModelFormats entry needs a name")
    priority = entry.get("priority")
    if priority is not None and (not isinstance(priority, int) or priority < 1):
        raise InvalidInput(f"{where}: priority {priority!r} must be a positive integer")
    version = entry.get("version")
    return SupportedFormat(
        name=str(entry["name"]),
        version=None if version is None else str(version),
        auto_select=bool(entry.get("autoSelect", False)),
        priority=priority,
    )


def parse_runtime(doc: Mapping[str, Any]) -> ServingRuntime:
    """A (Cluster)ServingRuntime document -> ``ServingRuntime``; InvalidInput if bad."""
    if doc.get("kind") not in KINDS:
        raise InvalidInput(f"kind {doc.get('kind')!r}: expected one of {', '.join(KINDS)}")
    if doc.get("apiVersion") != API_VERSION:
        raise InvalidInput(f"apiVersion {doc.get('apiVersion')!r}: expected {API_VERSION}")
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise InvalidInput("metadata.name: required")
    where = f"{doc['kind']} {name}"
    spec = doc.get("spec") or {}
    containers = spec.get("containers") or []
    if not isinstance(containers, list) or not containers:
        raise InvalidInput(f"{where}: spec.containers must list at least one container")
    main = next((c for c in containers if c.get("name") == "kserve-container"), containers[0])
    if not isinstance(main, Mapping) or not main.get("image"):
        raise InvalidInput(f"{where}: the kserve-container needs an image")
    protocols = tuple(str(p) for p in spec.get("protocolVersions") or ())
    for p in protocols:
        if p not in _PROTOCOL_ORDER:
            raise InvalidInput(
                f"{where}: protocolVersion {p!r} is not one of v1, v2, grpc-v1, grpc-v2"
            )
    image = str(main["image"])
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    annotations = meta.get("annotations") or {}
    return ServingRuntime(
        name=str(name),
        builtin=repository == BUILTIN_IMAGE,
        protocol_versions=protocols,
        formats=tuple(_format(f, where) for f in spec.get("supportedModelFormats") or ()),
        container=dict(main),
        namespace=meta.get("namespace") if doc["kind"] == "ServingRuntime" else None,
        disabled=bool(spec.get("disabled", False)),
        multi_model=bool(spec.get("multiModel", False)),
        created=str(meta.get("creationTimestamp") or ""),
        server_type=annotations.get("serving.kserve.io/server-type"),
    )


def _ordered(runtimes: Iterable[ServingRuntime], model_format: str) -> list[ServingRuntime]:
    # Lowest protocol, newest first, then name; then (stable) priority descending, None last.
    by_name = sorted(runtimes, key=lambda r: r.name)
    by_created = sorted(by_name, key=lambda r: r.created, reverse=True)
    by_protocol = sorted(by_created, key=lambda r: r.lowest_protocol())
    return sorted(
        by_protocol,
        key=lambda r: (r.priority_for(model_format) is None, -(r.priority_for(model_format) or 0)),
    )


class RuntimeRegistry:
    """The runtimes minikn knows: the shipped ClusterServingRuntimes plus any applied."""

    def __init__(self, runtimes: Iterable[ServingRuntime] = ()) -> None:
        self._runtimes: dict[tuple[str | None, str], ServingRuntime] = {}
        for rt in runtimes:
            self._runtimes[(rt.namespace, rt.name)] = rt

    @classmethod
    def load(cls, directory: Path) -> RuntimeRegistry:
        """Every document in ``directory/*.yaml`` (and ``*.yml``)."""
        registry = cls()
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{path.name}: not valid YAML: {exc}") from exc
            for doc in docs:
                if doc:
                    try:
                        registry.add(doc)
                    except InvalidInput as exc:
                        raise InvalidInput(f"{path.name}: {exc.message}") from exc
        return registry

    def add(self, doc: Mapping[str, Any]) -> ServingRuntime:
        runtime = parse_runtime(doc)
        self._runtimes[(runtime.namespace, runtime.name)] = runtime
        return runtime

    def remove(self, name: str, *, namespace: str | None = None) -> None:
        self._runtimes.pop((namespace, name), None)

    def get(self, name: str, *, namespace: str | None = None) -> ServingRuntime | None:
        """The namespaced runtime first (when a namespace is given), then the cluster one."""
        if namespace is not None and (namespace, name) in self._runtimes:
            return self._runtimes[(namespace, name)]
        return self._runtimes.get((None, name))

    def all(self) -> list[ServingRuntime]:
        return sorted(self._runtimes.values(), key=lambda r: (r.namespace or "", r.name))

    def select(
        self,
        *,
        model_format: str,
        version: str | None,
        protocol: str,
        runtime: str | None,
        namespace: str | None = None,
    ) -> ServingRuntime:
        """KServe's algorithm; raises ``NoSupportingRuntime`` (or a subclass) when none fits."""
        what = f"{model_format}" + (f" version {version}" if version else "")
        if runtime:
            found = self.get(runtime, namespace=namespace)
            if found is None:
                raise RuntimeNotRecognized(
                    f"No ServingRuntimes or ClusterServingRuntimes with the name: {runtime}"
                )
            if found.disabled:
                raise RuntimeDisabled(f"Specified runtime {runtime} is disabled")
            if not found.supports_protocol(protocol):
                raise NoSupportingRuntime(
                    f"Specified runtime {runtime} does not support specified protocol version "
                    f"{protocol} (it serves {', '.join(found.protocol_versions)})"
                )
            if not found.supports_format(model_format, version, explicit=True):
                raise NoSupportingRuntime(
                    f"Specified runtime {runtime} does not support specified framework/version "
                    f"{what}"
                )
            return found
        candidates = [
            rt
            for rt in self._runtimes.values()
            if (rt.namespace is None or rt.namespace == namespace)
            and not rt.disabled
            and not rt.multi_model
            and rt.supports_protocol(protocol)
            and rt.supports_format(model_format, version, explicit=False)
        ]
        namespaced = _ordered([r for r in candidates if r.namespace is not None], model_format)
        cluster = _ordered([r for r in candidates if r.namespace is None], model_format)
        ordered = namespaced + cluster
        if not ordered:
            raise NoSupportingRuntime(
                f"No runtime found to support specified framework/version {what} "
                f"with protocol {protocol}"
            )
        return ordered[0]


_GPU_SUFFIX_SERVERS = ("tensorflow/serving", "torchserve", "huggingfaceserver")


def render_container(
    runtime: ServingRuntime,
    *,
    isvc: str,
    namespace: str,
    overrides: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    protocol: str = "v1",
) -> ContainerSpec:
    """The runtime's kserve-container with the ISVC's inline container fields merged on top.

    Args are concatenated (runtime first, then the ISVC's), env and ports merge by name, resources
    merge per key, anything else the ISVC sets replaces the runtime's. ``runtimeVersion`` replaces
    the image tag; otherwise a GPU request appends ``-gpu`` to the tag of the TF-Serving,
    TorchServe and Hugging Face images (as KServe does). Placeholders ``{{.Name}}``,
    ``{{.Namespace}}``, ``{{.Labels.X}}`` and ``{{.Annotations.X}}`` refer to the ISVC.
    """
    fields = {k: v for k, v in overrides.items() if k not in ("runtimeVersion", "name")}
    merged = merge_container(runtime.container, fields)
    all_labels = dict(labels or {})
    if runtime.server_type == "torchserve":
        all_labels.setdefault(
            "serviceEnvelope", "kservev2" if protocol in ("v2", "grpc-v2") else "kserve"
        )
    rendered = apply_template(
        merged, {"Name": isvc, "Namespace": namespace}, all_labels, dict(annotations or {})
    )
    spec = container_from_k8s(rendered)
    image = spec.image or ""
    version = overrides.get("runtimeVersion")
    if version:
        image = with_image_tag(image, str(version))
    elif spec.resources.gpus > 0 and any(s in image for s in _GPU_SUFFIX_SERVERS):
        last = image.rsplit("/", 1)[-1]
        if ":" in last and not last.endswith("-gpu"):
            image = f"{image}-gpu"
    return spec.model_copy(update={"image": image or None})


def default_registry() -> RuntimeRegistry:
    """The shipped ``config/runtimes``."""
    return RuntimeRegistry.load(DEFAULT_DIR)
