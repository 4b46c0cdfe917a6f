"""Turn a ``Document`` into a validated, converted ISVC (or a runtime), or say exactly why not.

Every message names the document (file, index, kind/name), the field path and the rule, using
KServe's wording where KServe has one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from minikn.api.convert import V1ALPHA2, V1BETA1, convert_v1alpha2, legacy_to_model
from minikn.api.deploy_mode import DEPLOYMENT_MODE, deployment_mode, normalize_mode
from minikn.api.documents import Document
from minikn.api.extension_rules import (
    KEDA_SCALE_METRIC,
    clip,
    custom_storage_uri,
    hpa_metrics_rules,
    keda_metrics_rules,
    storage_uris_rules,
)
from minikn.api.graph import GRAPH_KIND
from minikn.api.graph_validation import ParsedGraph, parse_graph
from minikn.api.multinode_rules import multinode_rules
from minikn.api.schema import (
    ComponentExtensionSpec,
    ExplainerSpec,
    InferenceService,
    InferenceServiceSpec,
    ObjectMeta,
    PredictorExtensionSpec,
    PredictorSpec,
    TransformerSpec,
)
from minikn.config import Settings
from minikn.config.autoscaler import HPA_CLASS, KPA_CLASS
from minikn.core.errors import InvalidInput
from minikn.core.revision import ComponentName

__all__ = [
    "RUNTIME_KINDS",
    "ComponentIntent",
    "ParsedGraph",
    "ParsedIsvc",
    "ParsedRuntime",
    "parse_document",
]

RUNTIME_KINDS = frozenset({"ServingRuntime", "ClusterServingRuntime"})
ISVC_NAME_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_ISVC_NAME = re.compile(f"^{ISVC_NAME_FMT}$")
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
DNS1123_LABEL_MAX = 63
"""Kubernetes' label limit; KServe derives ``<name>-predictor`` hosts and services from it."""
DEFAULT_MIN_REPLICAS = 1
"""KServe's ``constants.DefaultMinReplicas``."""
TRANSFORMER_CONTAINER = "transformer-container"
"""KServe's ``constants.TransformerContainerName`` (a transformer collocated in the predictor)."""
STORAGE_URI_ENV = "STORAGE_URI"
PROTOCOL_ENV = "PROTOCOL"
CUSTOM_PROTOCOLS = ("v1", "v2")
"""Values of a custom container's ``PROTOCOL`` env (KServe's ``validateCustomProtocol``)."""
BLOCKED_ENV_VARS = frozenset({"PYTHONPATH"})
"""KServe's ``validation.DefaultBlockedEnvVars``."""
KSERVE_AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
KSERVE_AUTOSCALER_CLASSES = ("hpa", "external", "keda", "none")
"""KServe's ``constants.AutoscalerAllowedClassList``."""
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
_STRIPPED_SCALE = frozenset(
    AUTOSCALING_PREFIX + k for k in ("min-scale", "max-scale", "minScale", "maxScale")
)
"""Annotations KServe removes from the revision template (regenerated from min/maxReplicas)."""
_REPLICA_FIELDS = frozenset({"minReplicas", "maxReplicas"})
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
    spec_hash: str | None = None
    """The revision hash of ``spec`` with the ISVC's annotations, when computed where it was
    parsed (the API's parse worker); None: the planner computes it."""
    stable_hash: str | None = None
    """The same for ``stable``."""


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


def _replica_rules(comp: ComponentExtensionSpec) -> dict[str, str]:
    """KServe's component.go and validateScaling*CompExtension: field -> rule broken."""
    errs: dict[str, str] = {}
    lo = comp.min_replicas if comp.min_replicas is not None else DEFAULT_MIN_REPLICAS
    if lo < 0:
        errs["minReplicas"] = "'MinReplicas' cannot be less than 0"
    if comp.max_replicas < 0:
        errs["maxReplicas"] = "'MaxReplicas' cannot be less than 0"
    elif comp.max_replicas and lo > comp.max_replicas and "minReplicas" not in errs:
        errs["minReplicas"] = "'MinReplicas' cannot be greater than MaxReplicas"
    if comp.canary_traffic_percent is not None and not 0 <= comp.canary_traffic_percent <= 100:
        errs["canaryTrafficPercent"] = "TrafficPercent must be between [0, 100]"
    if comp.deployment_strategy is not None:
        errs["deploymentStrategy"] = (
            "customizing deploymentStrategy is only supported for raw deployment mode"
        )
    return errs


def _knative_rules(comp: ComponentExtensionSpec, settings: Settings) -> dict[str, str]:
    """Knative's RevisionSpec bounds (config-defaults): field -> rule broken."""
    errs: dict[str, str] = {}
    d = settings.defaults
    if comp.timeout is not None and not 0 <= comp.timeout <= d.max_revision_timeout_seconds:
        errs["timeout"] = (
            f"expected 0 <= {comp.timeout} <= {d.max_revision_timeout_seconds} "
            "(config-defaults max-revision-timeout-seconds)"
        )
    cc = comp.container_concurrency
    if cc is not None and cc < 0:
        errs["containerConcurrency"] = "parallelism cannot be less than 0"  # KServe's, first
    elif cc is not None and cc > d.container_concurrency_max_limit:
        errs["containerConcurrency"] = (
            f"expected 0 <= {cc} <= {d.container_concurrency_max_limit} "
            "(config-defaults container-concurrency-max-limit)"
        )
    elif cc == 0 and not d.allow_container_concurrency_zero:
        errs["containerConcurrency"] = (
            f"expected 1 <= 0 <= {d.container_concurrency_max_limit} "
            "(config-defaults allow-container-concurrency-zero)"
        )
    return errs


def _mode_of(annotations: Mapping[str, str], settings: Settings) -> str:
    try:
        return deployment_mode(annotations, settings.kserve.deploy.default_deployment_mode)
    except InvalidInput:
        return "Knative"  # refused by the webhook rules


def _metric_rules(comp: ComponentExtensionSpec, klass: str) -> dict[str, str]:
    """The scale metric against the autoscaler class, and KServe's per-metric target ranges."""
    errs: dict[str, str] = {}
    allowed = _CLASS_METRICS.get(klass)
    metric = comp.scale_metric
    if metric is not None and allowed is not None and metric not in allowed:
        other = next((c for c, m in _CLASS_METRICS.items() if metric in m), None)
        hint = f", or set the annotation {AUTOSCALING_PREFIX}class: {other}" if other else ""
        errs["scaleMetric"] = (
            f"[{metric}] is not a supported metric for class {klass} "
            f"(use {' or '.join(allowed)}{hint})"
        )
        return errs
    target = comp.scale_target
    if target is None:
        return errs
    metric = metric or ("cpu" if klass == HPA_CLASS else "concurrency")
    if metric == "rps" and target < 1:
        errs["scaleTarget"] = "the target for rps should be greater than 1"
    elif metric in _CLASS_METRICS[HPA_CLASS] and ((metric == "cpu" and target < 1) or target > 100):
        # KServe's `metric == MetricCPU && target < 1 || target > 100`: && binds first, so a
        # memory target above 100 is refused as well; kept so that what KServe admits is admitted.
        errs["scaleTarget"] = "the target utilization percentage should be a [1-100] integer"
    elif metric == "memory" and target < 1:
        errs["scaleTarget"] = "the target memory should be greater than 1 MiB"
    return errs


def _revision_annotations(
    comp: ComponentExtensionSpec, merged: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The autoscaling annotations the revision gets (KServe strips the user's min/max scale and
    writes minReplicas, maxReplicas, scaleTarget and scaleMetric), and annotation -> field."""
    view = {k: v for k, v in merged.items() if k not in _STRIPPED_SCALE}
    fields = {AUTOSCALING_PREFIX + "min-scale": "minReplicas"}
    view[AUTOSCALING_PREFIX + "min-scale"] = str(
        comp.min_replicas if comp.min_replicas is not None else DEFAULT_MIN_REPLICAS
    )
    if comp.max_replicas:
        view[AUTOSCALING_PREFIX + "max-scale"] = str(comp.max_replicas)
        fields[AUTOSCALING_PREFIX + "max-scale"] = "maxReplicas"
    if comp.scale_target is not None:
        view[AUTOSCALING_PREFIX + "target"] = str(comp.scale_target)
        fields[AUTOSCALING_PREFIX + "target"] = "scaleTarget"
    if comp.scale_metric is not None:
        view[AUTOSCALING_PREFIX + "metric"] = comp.scale_metric
        fields[AUTOSCALING_PREFIX + "metric"] = "scaleMetric"
    return view, fields


def _component_rules(
    path: str,
    comp: ComponentExtensionSpec,
    meta_annotations: Mapping[str, str],
    settings: Settings,
    check_annotations: AnnotationValidator,
) -> list[str]:
    merged = {k: v for k, v in meta_annotations.items() if k.startswith(AUTOSCALING_PREFIX)}
    merged.update(comp.annotations or {})
    klass = merged.get(AUTOSCALING_PREFIX + "class", settings.autoscaler.pod_autoscaler_class)
    keda = False
    standard = _mode_of(meta_annotations, settings) == "Standard"
    if standard:
        klass = HPA_CLASS  # KServe's validateScalingHPACompExtension
        keda = meta_annotations.get(KSERVE_AUTOSCALER_CLASS) == "keda"
    errs = {**_replica_rules(comp), **_knative_rules(comp, settings)}
    if not keda:
        errs.update(_metric_rules(comp, klass))
    elif comp.scale_metric is not None:  # KServe's validateScalingKedaCompExtension
        errs["scaleMetric"] = KEDA_SCALE_METRIC
    problems = [f"{path}.{name}: {rule}" for name, rule in errs.items()]
    if keda:
        problems.extend(keda_metrics_rules(path, comp.auto_scaling))
    elif klass == HPA_CLASS:
        problems.extend(hpa_metrics_rules(path, comp.auto_scaling))
    cc = comp.container_concurrency
    cc_eff = cc if cc is not None else settings.defaults.container_concurrency
    view, fields = _revision_annotations(comp, merged)
    if standard:  # the revision Standard mode runs is HPA-class, as revisions.py writes it
        view[AUTOSCALING_PREFIX + "class"] = HPA_CLASS
    for line in check_annotations(view, cc_eff):
        key, _, rest = line.partition(": ")
        field_name = fields.get(key)
        if field_name is None:
            problems.append(f"{path}.annotations: {line}")
        elif field_name not in errs and not (  # KServe's rule already said it
            field_name in _REPLICA_FIELDS and _REPLICA_FIELDS & errs.keys()
        ):
            errs[field_name] = rest
            problems.append(f"{path}.{field_name}: {rest} (as {key})")
    return problems


def _metadata_rules(meta: ObjectMeta) -> list[str]:
    """KServe's ISVC name rule and Kubernetes' DNS-1123 label rules for name and namespace."""
    problems: list[str] = []
    name = meta.name or ""
    if not _ISVC_NAME.match(name):
        problems.append(
            f'metadata.name: The InferenceService "{clip(name)}" is invalid: a InferenceService '
            "name must consist of lower case alphanumeric characters or '-', and must start with "
            'alphabetical character. (e.g. "my-name" or "abc-123", regex used for validation '
            f"is '{ISVC_NAME_FMT}')"
        )
    if len(name) > DNS1123_LABEL_MAX:
        problems.append(f"metadata.name: must be no more than {DNS1123_LABEL_MAX} characters")
    ns = meta.namespace
    if ns is not None:
        if not _DNS1123_LABEL.match(ns):
            problems.append(
                f'metadata.namespace: "{clip(ns)}": a lowercase RFC 1123 label must consist of '
                "lower case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation "
                f"is '{DNS1123_LABEL_FMT}')"
            )
        if len(ns) > DNS1123_LABEL_MAX:
            problems.append(
                f"metadata.namespace: must be no more than {DNS1123_LABEL_MAX} characters"
            )
    return problems


def _predictor_rules(predictor: PredictorSpec) -> list[str]:
    """KServe's validatePredictor and validateCollocationStorageURI."""
    problems: list[str] = []
    key = predictor.implementation()
    ext = getattr(predictor, key) if key != "containers" else None
    if isinstance(ext, PredictorExtensionSpec) and ext.name:
        problems.append(
            f"spec.predictor.{key}.name: the 'name' field is not allowed in standard predictor"
        )
    for i, c in enumerate(predictor.containers or ()):
        if c.name == TRANSFORMER_CONTAINER and any(e.name == STORAGE_URI_ENV for e in c.env or ()):
            problems.append(
                f"spec.predictor.containers[{i}].env: storage uri should not be specified in "
                "transformer container"
            )
    return problems


KBS_RESOURCE_ID = re.compile(r"^kbs:///[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/[a-zA-Z0-9_.-]+$")
"""KServe's ``kbsResourceIdRegexp`` (a confidential model's key in the key broker)."""


def _storage_rules(isvc: InferenceService) -> list[str]:
    """KServe's validateMultipleStorageURIs and validateConfidential, per component."""
    problems: list[str] = []
    p = isvc.spec.predictor
    key = p.implementation()
    ext = getattr(p, key) if key != "containers" else None
    uri = ext.storage_uri if isinstance(ext, PredictorExtensionSpec) else None
    if ext is None:
        uri = custom_storage_uri(p.containers)
    problems.extend(storage_uris_rules("spec.predictor", uri, p.storage_uris))
    t = isvc.spec.transformer
    if t is not None:
        problems.extend(
            storage_uris_rules("spec.transformer", custom_storage_uri(t.containers), t.storage_uris)
        )
    e = isvc.spec.explainer
    if e is not None:
        uri = e.art.storage_uri if e.art is not None else custom_storage_uri(e.containers)
        problems.extend(storage_uris_rules("spec.explainer", uri, e.storage_uris))
    conf = ext.confidential if isinstance(ext, PredictorExtensionSpec) else None
    if isinstance(conf, dict) and conf.get("enabled") is True:
        at = f"spec.predictor.{key}"
        if not (isinstance(ext, PredictorExtensionSpec) and ext.storage_uri):
            problems.append(
                f"{at}.storageUri: confidential model serving requires storageUri to be set"
            )
        rid = conf.get("resourceId")
        if isinstance(rid, str) and rid and not KBS_RESOURCE_ID.match(rid):
            problems.append(
                f"{at}.confidential.resourceId: invalid confidential resourceId format "
                f"{json.dumps(clip(rid))}, expected kbs:///<repo>/<type>/<tag>"
            )
    return problems


def _env_names(env: Sequence[Any] | None) -> list[str]:
    """Env var names of a typed container's env or of an untyped (initContainers) one."""
    out = []
    for e in env or ():
        name = e.get("name") if isinstance(e, dict) else getattr(e, "name", None)
        if isinstance(name, str):
            out.append(name)
    return out


def _containers(isvc: InferenceService) -> list[tuple[str, str, Sequence[Any] | None]]:
    """(path, container name, env) of every container KServe's blocked-env rule looks at."""
    out: list[tuple[str, str, Sequence[Any] | None]] = []
    p = isvc.spec.predictor
    key = p.implementation()
    ext = getattr(p, key) if key != "containers" else None
    if isinstance(ext, PredictorExtensionSpec):
        out.append((f"spec.predictor.{key}.env", "kserve-container", ext.env))
    comps: list[tuple[str, ComponentExtensionSpec | None]] = [
        ("predictor", p),
        ("transformer", isvc.spec.transformer),
        ("explainer", isvc.spec.explainer),
    ]
    for comp_name, comp in comps:
        if not isinstance(comp, PredictorSpec | TransformerSpec | ExplainerSpec):
            continue
        for i, c in enumerate(comp.containers or ()):
            out.append((f"spec.{comp_name}.containers[{i}].env", c.name or "", c.env))
        for i, raw in enumerate(comp.init_containers or ()):
            env = raw.get("env") if isinstance(raw.get("env"), list) else None
            name = str(raw.get("name", ""))
            out.append((f"spec.{comp_name}.initContainers[{i}].env", name, env))
    worker = p.worker_spec
    for i, c in enumerate(worker.containers or () if worker is not None else ()):
        out.append((f"spec.predictor.workerSpec.containers[{i}].env", c.name or "", c.env))
    for i, raw in enumerate(worker.init_containers or () if worker is not None else ()):
        env = raw.get("env") if isinstance(raw.get("env"), list) else None
        path = f"spec.predictor.workerSpec.initContainers[{i}].env"
        out.append((path, str(raw.get("name", "")), env))
    art = isvc.spec.explainer.art if isvc.spec.explainer is not None else None
    if art is not None:
        out.append(("spec.explainer.art.env", "kserve-container", art.env))
    return out


def _webhook_rules(isvc: InferenceService) -> list[str]:
    """KServe's validateInferenceServiceAutoscaler, validateBlockedEnvVars and the custom
    predictor's and transformer's ``PROTOCOL`` env rule."""
    problems: list[str] = []
    annotations = isvc.metadata.annotations or {}
    if DEPLOYMENT_MODE in annotations:
        try:
            normalize_mode(annotations[DEPLOYMENT_MODE])
        except InvalidInput as exc:
            problems.append(exc.message)
    klass = annotations.get(KSERVE_AUTOSCALER_CLASS)
    if klass is not None and klass not in KSERVE_AUTOSCALER_CLASSES:
        problems.append(
            f"metadata.annotations[{KSERVE_AUTOSCALER_CLASS}]: [{clip(klass)}] is not a "
            f"supported autoscaler class type (one of {', '.join(KSERVE_AUTOSCALER_CLASSES)})"
        )
    for path, container, env in _containers(isvc):
        for blocked in sorted(set(_env_names(env)) & BLOCKED_ENV_VARS):
            problems.append(
                f'{path}: the InferenceService "{isvc.metadata.name}" is invalid: setting '
                f'{blocked} in container "{container}" is not allowed for security reasons'
            )
    for comp_name, comp in (
        ("predictor", isvc.spec.predictor),
        ("transformer", isvc.spec.transformer),
    ):
        first = comp.containers[0] if comp is not None and comp.containers else None
        for e in first.env or () if first is not None else ():
            if e.name == PROTOCOL_ENV and e.value not in CUSTOM_PROTOCOLS:
                problems.append(
                    f"spec.{comp_name}.containers[0].env: invalid protocol {clip(str(e.value))}. "
                    f"Must be one of [{', '.join(CUSTOM_PROTOCOLS)}]"
                )
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
    problems = [
        *_metadata_rules(isvc.metadata),
        *_predictor_rules(isvc.spec.predictor),
        *_webhook_rules(isvc),
        *multinode_rules(isvc),
        *_storage_rules(isvc),
    ]
    meta_ann = isvc.metadata.annotations or {}
    intents: dict[ComponentName, ComponentIntent] = {}
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
) -> ParsedIsvc | ParsedRuntime | ParsedGraph:
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
    if kind == GRAPH_KIND:
        check = check_annotations or _default_annotation_validator(settings)
        return parse_graph(doc, settings, check)
    if kind != "InferenceService":
        expected = f"InferenceService, {GRAPH_KIND}, " + " or ".join(sorted(RUNTIME_KINDS))
        raise _invalid(doc, [f"kind: {kind} is not supported (expected {expected})"])
    api = doc.body.get("apiVersion")
    if api not in (V1BETA1, V1ALPHA2):
        raise _invalid(doc, [f"apiVersion: {api!r} is not supported (use {V1BETA1} or {V1ALPHA2})"])
    spec = doc.body.get("spec")
    if api == V1BETA1 and not (isinstance(spec, dict) and "predictor" in spec):
        raise _invalid(doc, ["spec.predictor: required field is missing"])
    return parse_isvc(doc, settings, check_annotations)
