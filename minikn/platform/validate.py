"""Turn a ``Document`` into a validated, converted ISVC (or a runtime), or say exactly why not.

Every message names the document (file, index, kind/name), the field path and the rule, using
KServe's wording where KServe has one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from minikn.config import Settings
from minikn.config.autoscaler import HPA_CLASS, KPA_CLASS
from minikn.core.errors import InvalidInput
from minikn.core.revision import ComponentName
from minikn.platform.convert import V1ALPHA2, V1BETA1, convert_v1alpha2, legacy_to_model
from minikn.platform.documents import Document
from minikn.platform.schema import (
    ComponentExtensionSpec,
    ExplainerSpec,
    InferenceService,
    InferenceServiceSpec,
    ObjectMeta,
    PredictorSpec,
    TransformerSpec,
)

__all__ = [
    "RUNTIME_KINDS",
    "ComponentIntent",
    "ParsedIsvc",
    "ParsedRuntime",
    "parse_document",
]

RUNTIME_KINDS = frozenset({"ServingRuntime", "ClusterServingRuntime"})
ISVC_NAME_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_ISVC_NAME = re.compile(f"^{ISVC_NAME_FMT}$")
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
_CLASS_METRICS = {
    KPA_CLASS: ("concurrency", "rps"),
    HPA_CLASS: ("cpu", "memory"),
}
"""Metrics each Knative autoscaler class scales on (KServe's validateScalingKPACompExtension)."""

Component = PredictorSpec | TransformerSpec | ExplainerSpec
AnnotationValidator = Callable[[Mapping[str, str], int], list[str]]


@dataclass(frozen=True)
class ComponentIntent:
    """What the user wants for one component."""

    spec: Component
    """The spec of the latest revision."""
    stable: Component | None = None
    """v1alpha2 only: the default endpoint's spec, pinned as the rolled-out revision."""
    canary_percent: int | None = None


@dataclass(frozen=True)
class ParsedIsvc:
    name: str
    namespace: str
    api_version: str
    metadata: ObjectMeta
    doc: dict[str, Any]
    """The original document, as applied."""
    components: dict[ComponentName, ComponentIntent] = field(default_factory=dict)

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.annotations or {})


@dataclass(frozen=True)
class ParsedRuntime:
    doc: dict[str, Any]
    kind: str
    name: str


def _format_errors(err: ValidationError, prefix: str) -> list[str]:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        if e["type"] == "extra_forbidden":
            rule = "unknown field"
        elif e["type"] == "missing":
            rule = "required field is missing"
        else:
            rule = str(e["msg"]).removeprefix("Value error, ")
            if e["type"] not in ("value_error", "assertion_error"):
                rule += f" (got {e.get('input')!r})"
        lines.append(f"{path or '(document)'}: {rule}")
    return lines


def _invalid(doc: Document, problems: list[str]) -> InvalidInput:
    return InvalidInput("\n".join(f"{doc.where()}: {p}" for p in problems), reason="Invalid")


def _default_annotation_validator(settings: Settings) -> AnnotationValidator:
    try:
        from minikn.autoscaler.spec import validate_annotations
    except ImportError:  # the autoscaler package is optional for offline validation
        return lambda annotations, cc: []

    def check(annotations: Mapping[str, str], cc: int) -> list[str]:
        return list(
            validate_annotations(annotations, container_concurrency=cc, config=settings.autoscaler)
        )

    return check


def _component_rules(
    path: str,
    comp: ComponentExtensionSpec,
    meta_annotations: Mapping[str, str],
    settings: Settings,
    check_annotations: AnnotationValidator,
) -> list[str]:
    problems: list[str] = []
    d = settings.defaults
    timeout = comp.timeout if comp.timeout is not None else d.revision_timeout_seconds
    if timeout > d.max_revision_timeout_seconds:
        problems.append(
            f"{path}.timeout: expected 0 <= {timeout} <= {d.max_revision_timeout_seconds} "
            "(max-revision-timeout-seconds)"
        )
    cc = comp.container_concurrency
    if cc is not None and cc > d.container_concurrency_max_limit:
        problems.append(
            f"{path}.containerConcurrency: expected 0 <= {cc} <= "
            f"{d.container_concurrency_max_limit} (container-concurrency-max-limit)"
        )
    if cc == 0 and not d.allow_container_concurrency_zero:
        problems.append(
            f"{path}.containerConcurrency: 0 is not allowed (allow-container-concurrency-zero)"
        )
    merged = {k: v for k, v in meta_annotations.items() if k.startswith(AUTOSCALING_PREFIX)}
    merged.update(comp.annotations or {})
    klass = merged.get(AUTOSCALING_PREFIX + "class", settings.autoscaler.pod_autoscaler_class)
    allowed = _CLASS_METRICS.get(klass)
    if comp.scale_metric is not None and allowed is not None and comp.scale_metric not in allowed:
        other = next((c for c, m in _CLASS_METRICS.items() if comp.scale_metric in m), None)
        hint = f", or set the annotation {AUTOSCALING_PREFIX}class: {other}" if other else ""
        problems.append(
            f"{path}.scaleMetric: the autoscaling metric {comp.scale_metric} is not supported for "
            f"class {klass} (use {' or '.join(allowed)}{hint})"
        )
    cc_eff = cc if cc is not None else d.container_concurrency
    problems.extend(f"{path}.annotations: {p}" for p in check_annotations(merged, cc_eff))
    return problems


def _parse_spec(spec: dict[str, Any]) -> InferenceServiceSpec:
    return InferenceServiceSpec.model_validate(spec)


def _components(spec: InferenceServiceSpec) -> dict[ComponentName, Component]:
    out: dict[ComponentName, Component] = {"predictor": legacy_to_model(spec.predictor)}
    if spec.transformer is not None:
        out["transformer"] = spec.transformer
    if spec.explainer is not None:
        out["explainer"] = spec.explainer
    return out


def parse_isvc(
    doc: Document, settings: Settings, check_annotations: AnnotationValidator | None = None
) -> ParsedIsvc:
    body = doc.body
    api = body.get("apiVersion")
    check = check_annotations or _default_annotation_validator(settings)
    try:
        if api == V1ALPHA2:
            conv = convert_v1alpha2(body)
            isvc = InferenceService.model_validate(conv.default)
            canary = _parse_spec(conv.canary_spec) if conv.canary_spec is not None else None
        else:
            isvc = InferenceService.model_validate(body)
            canary = None
    except ValidationError as exc:
        raise _invalid(doc, _format_errors(exc, "")) from exc
    except ValueError as exc:
        raise _invalid(doc, [f"spec.canaryTrafficPercent: {exc}"]) from exc
    name = isvc.metadata.name or ""
    if not _ISVC_NAME.match(name):
        raise _invalid(
            doc,
            [
                f'metadata.name: The InferenceService "{name}" is invalid: a InferenceService name '
                "must consist of lower case alphanumeric characters or '-', and must start with "
                'alphabetical character. (e.g. "my-name" or "abc-123", regex used for validation '
                f"is '{ISVC_NAME_FMT}')"
            ],
        )
    meta_ann = isvc.metadata.annotations or {}
    intents: dict[ComponentName, ComponentIntent] = {}
    problems: list[str] = []
    default = _components(isvc.spec)
    # v1alpha2: a component in the canary endpoint is the latest revision, the default endpoint's
    # one stays rolled out; a component only in the default endpoint is not split.
    latest = {**default, **_components(canary)} if canary is not None else default
    for comp_name, comp in latest.items():
        problems.extend(_component_rules(f"spec.{comp_name}", comp, meta_ann, settings, check))
        stable = default.get(comp_name) if comp is not default.get(comp_name) else None
        if stable is not None:
            percent = body["spec"].get("canaryTrafficPercent", 0)
            intents[comp_name] = ComponentIntent(comp, stable=stable, canary_percent=percent)
        elif canary is not None:
            intents[comp_name] = ComponentIntent(comp)
        else:
            intents[comp_name] = ComponentIntent(comp, canary_percent=comp.canary_traffic_percent)
    if problems:
        raise _invalid(doc, problems)
    return ParsedIsvc(
        name=name,
        namespace=isvc.metadata.namespace or "default",
        api_version=str(api or V1BETA1),
        metadata=isvc.metadata,
        doc=body,
        components=intents,
    )


def parse_document(
    doc: Document, settings: Settings, check_annotations: AnnotationValidator | None = None
) -> ParsedIsvc | ParsedRuntime:
    """Parse one document; InvalidInput names the document, the field path and the rule."""
    if doc.error is not None:
        raise _invalid(doc, [doc.error])
    if not isinstance(doc.body, dict):
        raise _invalid(doc, [f"(document): must be a mapping, got {type(doc.body).__name__}"])
    kind = doc.kind
    if not kind:
        raise _invalid(doc, ["kind: required field is missing"])
    if kind in RUNTIME_KINDS:
        if not doc.name:
            raise _invalid(doc, ["metadata.name: required field is missing"])
        return ParsedRuntime(doc=doc.body, kind=kind, name=doc.name)
    if kind != "InferenceService":
        raise _invalid(doc, [f"kind: kind {kind} is not supported by minikn"])
    api = doc.body.get("apiVersion")
    if api not in (V1BETA1, V1ALPHA2):
        raise _invalid(doc, [f"apiVersion: {api!r} is not supported (use {V1BETA1} or {V1ALPHA2})"])
    spec = doc.body.get("spec")
    if api == V1BETA1 and not (isinstance(spec, dict) and "predictor" in spec):
        raise _invalid(doc, ["spec.predictor: required field is missing"])
    return parse_isvc(doc, settings, check_annotations)
