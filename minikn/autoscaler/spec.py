"""Per-revision scaling settings: ``autoscaling.knative.dev/*`` annotations over the config.

Pure. Mirrors knative/serving ``pkg/apis/autoscaling/register.go`` (keys and legacy aliases),
``annotation_validation.go`` (ranges) and ``pkg/reconciler/autoscaling/resources/target.go``
(``ResolveMetricTarget``). Annotation values are strings, as in Kubernetes metadata.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from minikn.config.autoscaler import HPA_CLASS, KPA_CLASS, TARGET_MIN, WINDOW_MAX, AutoscalerConfig
from minikn.config.types import parse_duration

__all__ = [
    "ALIASES",
    "PREFIX",
    "PROGRESS_DEADLINE",
    "Aggregation",
    "ScalingSpec",
    "annotation",
    "build_spec",
    "effective_max_scale",
    "validate_annotations",
]

PREFIX = "autoscaling.knative.dev/"
PROGRESS_DEADLINE = "serving.knative.dev/progress-deadline"
RPS_TARGET_UTILIZATION = 0.7
"""Knative's internal ``TargetUtilization`` for the rps metric (no ConfigMap key)."""

ALIASES: dict[str, str | None] = {
    "class": None,
    "metric": None,
    "target": None,
    "target-utilization-percentage": "targetUtilizationPercentage",
    "window": None,
    "panic-window-percentage": "panicWindowPercentage",
    "panic-threshold-percentage": "panicThresholdPercentage",
    "min-scale": "minScale",
    "max-scale": "maxScale",
    "initial-scale": "initialScale",
    "activation-scale": None,
    "scale-down-delay": "scaleDownDelay",
    "scale-to-zero-pod-retention-period": "scaleToZeroPodRetentionPeriod",
    "target-burst-capacity": "targetBurstCapacity",
    "metric-aggregation-algorithm": "metricAggregationAlgorithm",
}
"""Every annotation (without prefix) and its legacy camelCase spelling, if any."""

Aggregation = Literal["linear", "weighted-exponential"]
_INT = re.compile(r"[+-]?\d+")
_INT32_MAX = 2**31 - 1


def annotation(annotations: Mapping[str, str], key: str) -> tuple[str, str] | None:
    """(spelled name, value) of ``key``: the current spelling wins over the legacy alias."""
    name = PREFIX + key
    if name in annotations:
        return name, annotations[name]
    alias = ALIASES.get(key)
    if alias is not None and PREFIX + alias in annotations:
        return PREFIX + alias, annotations[PREFIX + alias]
    return None


def _float(v: str) -> float | None:
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _int(v: str) -> int | None:
    return int(v) if _INT.fullmatch(v.strip()) else None


def _duration(v: str) -> float | None:
    try:
        return parse_duration(v)
    except ValueError:
        return None


def _check(key: str, value: str, ctx: _Ctx) -> str | None:
    """The rule ``value`` breaks for annotation ``key``, or None."""
    if key == "class":
        if value.endswith(".knative.dev") and value not in (KPA_CLASS, HPA_CLASS):
            return f"must be {KPA_CLASS}, {HPA_CLASS} or a class not ending in .knative.dev"
        return None
    if key == "metric":
        if ctx.cls == KPA_CLASS and value not in ("concurrency", "rps"):
            return "must be concurrency or rps for the kpa class"
        if ctx.cls == HPA_CLASS and not value:
            return "must be cpu, memory or a custom metric name for the hpa class"
        return None
    if key in ("min-scale", "max-scale", "initial-scale", "activation-scale"):
        n = _int(value)
        if n is None or not 0 <= n <= _INT32_MAX:
            return "must be an integer in [0, 2147483647]"
        return _check_scale(key, n, ctx)
    if key in ("window", "scale-down-delay", "scale-to-zero-pod-retention-period"):
        return _check_duration(key, value)
    if key == "metric-aggregation-algorithm":
        if ctx.cls == KPA_CLASS and value not in (
            "linear",
            "weighted-exponential",
            "weightedExponential",
        ):
            return "must be linear or weighted-exponential"
        return None
    f = _float(value)
    if f is None:
        return "must be a number"
    rules = {
        "target": (f >= TARGET_MIN, f"must be at least {TARGET_MIN}"),
        "target-utilization-percentage": (1 <= f <= 100, "must be in [1, 100]"),
        "panic-window-percentage": (1 <= f <= 100, "must be in [1.0, 100.0]"),
        "panic-threshold-percentage": (110 <= f <= 1000, "must be in [110.0, 1000.0]"),
        "target-burst-capacity": (f >= 0 or f == -1, "must be at least 0, or -1 (unlimited)"),
    }
    ok, rule = rules[key]
    return None if ok else rule


def _check_duration(key: str, value: str) -> str | None:
    d = _duration(value)
    lo = 6.0 if key == "window" else 0.0
    text = "6s" if key == "window" else "0s"
    if d is None:
        return f"must be a duration such as 60s, in [{text}, 1h]"
    if not lo <= d <= WINDOW_MAX:
        return f"must be in [{text}, 1h]"
    if key != "scale-to-zero-pod-retention-period" and d != int(d):
        return f"must be in [{text}, 1h] with whole-second precision"
    return None


def _check_scale(key: str, n: int, ctx: _Ctx) -> str | None:
    cfg = ctx.config
    limit = cfg.max_scale_limit
    if key == "max-scale" and limit and n == 0:
        return f"max-scale=0 (unlimited), must be less than {limit} (max-scale-limit)"
    if key == "max-scale" and limit and n > limit:
        return f"must be in [1, {limit}] (max-scale-limit)"
    if key == "max-scale" and n and ctx.min_scale > n:
        return f"must be at least min-scale ({ctx.min_scale}), or 0 (unlimited)"
    if key == "initial-scale" and n == 0 and not cfg.allow_zero_initial_scale:
        return "must be at least 1 (0 only with allow-zero-initial-scale: true)"
    if key in ("min-scale", "initial-scale") and not ctx.max_given and 0 < ctx.max_scale < n:
        # Not a Knative rule: with no max-scale on the revision the default (config max-scale,
        # else max-scale-limit) bounds it, and minikn would otherwise start n replicas at once.
        return f"must be at most {ctx.max_scale} ({ctx.max_source})"
    if key == "initial-scale" and ctx.max_given and ctx.max_scale and n > ctx.max_scale:
        return f"must be at most max-scale ({ctx.max_scale})"
    if key == "activation-scale":
        if n < 2:
            return "must be at least 2"
        if n < ctx.min_scale or (ctx.max_scale and n > ctx.max_scale):
            hi = ctx.max_scale or "unlimited"
            return f"must be in [min-scale {ctx.min_scale}, max-scale {hi}]"
    return None


@dataclass(frozen=True, slots=True)
class _Ctx:
    cls: str
    config: AutoscalerConfig
    min_scale: int
    max_scale: int
    """The revision's bound: its max-scale, else config max-scale, else max-scale-limit (0 =
    unlimited)."""
    max_given: bool
    """Whether the revision carries a max-scale annotation."""
    max_source: str


def effective_max_scale(max_scale: int, config: AutoscalerConfig) -> int:
    """A revision's max scale: 0 (unlimited) becomes ``max-scale-limit`` when that is set."""
    return max_scale or config.max_scale_limit


def validate_annotations(
    annotations: Mapping[str, str], *, container_concurrency: int, config: AutoscalerConfig
) -> list[str]:
    """Every broken rule, each ``"<annotation>: <value>: <rule with range>"`` (empty when valid).

    ``container_concurrency`` is accepted for the apply-time contract; it caps the target when the
    spec is built rather than making a target invalid (as Knative does).
    """
    del container_concurrency
    errors: list[str] = []
    for key, alias in ALIASES.items():
        if alias is not None and PREFIX + key in annotations and PREFIX + alias in annotations:
            errors.append(
                f"{PREFIX}{key}: {annotations[PREFIX + key]}: set only one of {PREFIX}{key} and "
                f"{PREFIX}{alias}"
            )
    cls_ann = annotation(annotations, "class")
    cls = cls_ann[1] if cls_ann else config.pod_autoscaler_class
    ints = {k: _int(v[1]) for k in ("min-scale", "max-scale") if (v := annotation(annotations, k))}
    min_scale, max_scale = ints.get("min-scale"), ints.get("max-scale")
    if max_scale is not None:
        source = "max-scale"
    elif config.max_scale:
        source = "config-autoscaler max-scale"
    else:
        source = "config-autoscaler max-scale-limit"
    ctx = _Ctx(
        cls,
        config,
        config.min_scale if min_scale is None else min_scale,
        effective_max_scale(config.max_scale if max_scale is None else max_scale, config),
        max_scale is not None,
        source,
    )
    for key in ALIASES:
        found = annotation(annotations, key)
        if found is None:
            continue
        name, value = found
        rule = _check(key, value, ctx)
        if rule is not None:
            errors.append(f"{name}: {value}: {rule}")
    if PROGRESS_DEADLINE in annotations:
        value = annotations[PROGRESS_DEADLINE]
        d = _duration(value)
        if d is None or d <= 0:
            errors.append(f"{PROGRESS_DEADLINE}: {value}: must be a positive duration such as 600s")
    return errors


@dataclass(frozen=True, slots=True)
class ScalingSpec:
    """Everything the decision needs about one revision, resolved and validated."""

    revision: str
    autoscaler_class: str
    metric: str
    """concurrency | rps (KPA); cpu | memory (HPA)."""
    target_value: float
    """Knative's TargetValue: per-pod target of the metric, max(0.01, total x utilization).
    For HPA: the target utilization in percent of the resource request."""
    total_value: float
    """Knative's TotalValue: per-pod capacity (burst-capacity math)."""
    target_utilization: float
    min_scale: int
    max_scale: int
    """0 = unlimited (only when config-autoscaler max-scale-limit is 0)."""
    initial_scale: int
    activation_scale: int
    """0 = unset (Knative requires >= 2 when set)."""
    stable_window: float
    panic_window: float
    panic_threshold: float
    """A fraction: 200 % -> 2.0."""
    max_scale_up_rate: float
    max_scale_down_rate: float
    scale_down_delay: float
    scale_to_zero_retention: float
    scale_to_zero_grace: float
    enable_scale_to_zero: bool
    target_burst_capacity: float
    aggregation: Aggregation
    progress_deadline: float
    container_concurrency: int = 0
    cpu_request: float = 1.0
    """Cores per replica the HPA cpu utilization is relative to."""
    memory_request: int = 2 * 1024**3
    """Bytes per replica the HPA memory utilization is relative to."""

    @property
    def is_hpa(self) -> bool:
        return self.autoscaler_class == HPA_CLASS or self.metric in ("cpu", "memory")


@dataclass(frozen=True)
class _Reader:
    """A revision's autoscaling annotations, read with defaults (already validated)."""

    annotations: Mapping[str, str]

    def get(self, key: str) -> str | None:
        found = annotation(self.annotations, key)
        return found[1] if found else None

    def num(self, key: str, default: float) -> float:
        v = self.get(key)
        f = _float(v) if v is not None else None
        return default if f is None else f

    def dur(self, key: str, default: float) -> float:
        v = self.get(key)
        d = _duration(v) if v is not None else None
        return default if d is None else d

    def whole(self, key: str, default: int) -> int:
        v = self.get(key)
        n = _int(v) if v is not None else None
        return default if n is None else n


def _targets(
    ann: _Reader, metric: str, *, container_concurrency: int, config: AutoscalerConfig
) -> tuple[float, float, float]:
    """(total, utilization, target per replica) for ``metric``.

    Worked example (Knative's target.go): CC=10, defaults -> total 10, utilization 0.7,
    TargetValue 7; CC=0 -> total 100 (container-concurrency-target-default), TargetValue 70.
    """
    if metric in ("cpu", "memory"):
        # Kubernetes' HPA default utilization target when none is given is 80 %.
        total = ann.num("target", 80.0)
        return total, 1.0, total
    if metric == "rps":
        total, tu = config.requests_per_second_target_default, RPS_TARGET_UTILIZATION
    else:
        total = float(container_concurrency or config.container_concurrency_target_default)
        tu = config.target_utilization
    total = ann.num("target", total)
    if metric == "concurrency" and container_concurrency:
        total = min(total, float(container_concurrency))
    pct = ann.get("target-utilization-percentage")
    if pct is not None and _float(pct) is not None:
        tu = ann.num("target-utilization-percentage", 70.0) / 100.0
    return total, tu, max(TARGET_MIN, total * tu)


def _initial_scale(ann: _Reader, config: AutoscalerConfig) -> int:
    initial = ann.whole("initial-scale", config.initial_scale)
    if initial == 0 and not config.allow_zero_initial_scale:
        return config.initial_scale
    return initial


def build_spec(
    revision: str,
    annotations: Mapping[str, str],
    *,
    container_concurrency: int,
    config: AutoscalerConfig,
    progress_deadline: float = 600.0,
    cpu_request: float | None = None,
    memory_request: int | None = None,
) -> ScalingSpec:
    """Resolve a revision's annotations (already validated) into a :class:`ScalingSpec`."""
    ann = _Reader(annotations)
    cls = ann.get("class") or config.pod_autoscaler_class
    metric = ann.get("metric") or ("cpu" if cls == HPA_CLASS else "concurrency")
    total, tu, target = _targets(
        ann, metric, container_concurrency=container_concurrency, config=config
    )
    window = ann.dur("window", config.stable_window)
    panic_pct = ann.num("panic-window-percentage", config.panic_window_percentage)
    algo = ann.get("metric-aggregation-algorithm") or "linear"
    return ScalingSpec(
        revision=revision,
        autoscaler_class=cls,
        metric=metric,
        target_value=target,
        total_value=total,
        target_utilization=tu,
        min_scale=ann.whole("min-scale", config.min_scale),
        max_scale=effective_max_scale(ann.whole("max-scale", config.max_scale), config),
        initial_scale=_initial_scale(ann, config),
        activation_scale=ann.whole("activation-scale", 0),
        stable_window=window,
        # time.Duration.Round(time.Second): halves round away from zero (65 s x 10 % -> 7 s).
        panic_window=max(1.0, float(math.floor(window * panic_pct / 100.0 + 0.5))),
        panic_threshold=ann.num("panic-threshold-percentage", config.panic_threshold_percentage)
        / 100,
        max_scale_up_rate=config.max_scale_up_rate,
        max_scale_down_rate=config.max_scale_down_rate,
        scale_down_delay=ann.dur("scale-down-delay", config.scale_down_delay),
        scale_to_zero_retention=ann.dur(
            "scale-to-zero-pod-retention-period", config.scale_to_zero_pod_retention_period
        ),
        scale_to_zero_grace=config.scale_to_zero_grace_period,
        enable_scale_to_zero=config.enable_scale_to_zero,
        target_burst_capacity=ann.num("target-burst-capacity", config.target_burst_capacity),
        aggregation="linear" if algo == "linear" else "weighted-exponential",
        progress_deadline=_duration(annotations.get(PROGRESS_DEADLINE, "")) or progress_deadline,
        container_concurrency=container_concurrency,
        cpu_request=cpu_request if cpu_request else 1.0,
        memory_request=memory_request if memory_request else 2 * 1024**3,
    )
