"""Knative's Pod Autoscaler (KPA), HPA-style CPU/memory scaling, and a traffic simulator.

Modules: ``spec`` (annotations -> ScalingSpec, apply-time validation), ``window`` (metric
windows), ``decide`` (the per-tick decision), ``kpa`` (desired scale -> replicas, scale to zero),
``hpa`` (Kubernetes HPA formula), ``engine`` (one revision's KPA or HPA scaler, used by both the
live loop and the simulator), ``loop`` (the live :class:`Autoscaler`),
``simulate``/``traces``/``cli`` (the ``minikn simulate`` command).
"""

from minikn.autoscaler.loop import Autoscaler, Scaler, ScalerStatus
from minikn.autoscaler.spec import ScalingSpec, build_spec, validate_annotations
from minikn.core.usage import ResourceUsage

__all__ = [
    "Autoscaler",
    "ResourceUsage",
    "Scaler",
    "ScalerStatus",
    "ScalingSpec",
    "build_spec",
    "validate_annotations",
]
