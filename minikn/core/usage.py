"""Resource usage of a revision's replicas, reported by the replica backends (for HPA scaling)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ResourceUsage"]


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    """CPU and memory summed over a revision's ready replicas at one moment."""

    cpu_cores: float = 0.0
    """CPU in cores (1.0 = one core fully busy), summed over ready replicas."""
    memory_bytes: int = 0
    """Resident memory in bytes, summed over ready replicas."""
    replicas: int = 0
    """How many replicas the sums cover (0 = no sample)."""
