"""GPU inventory and allocation: exact device ids, never shared unless ``gpuSharing`` allows it.

The decision (:func:`pick_gpus`) is pure; :class:`GpuAllocator` keeps who holds which GPU, and
:func:`discover_gpus` asks ``nvidia-smi`` (absent -> no GPUs) when the config lists none.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from minikn.config.local import ReplicasConfig

__all__ = ["GpuAllocator", "discover_gpus", "parse_nvidia_smi", "pick_gpus"]

log = logging.getLogger("minikn.replicas.gpus")


def pick_gpus(free_slots: Mapping[str, int], count: int) -> tuple[str, ...] | None:
    """``count`` distinct GPUs that each have a free slot, least used first; None if too few.

    Ties keep the inventory order, so GPU 0 is handed out before GPU 1.
    """
    if count <= 0:
        return ()
    order = {gpu: i for i, gpu in enumerate(free_slots)}
    candidates = sorted(
        (g for g, n in free_slots.items() if n > 0), key=lambda g: (-free_slots[g], order[g])
    )
    if len(candidates) < count:
        return None
    return tuple(sorted(candidates[:count], key=order.__getitem__))


class GpuAllocator:
    """Who holds which GPU. Each GPU has ``sharing`` slots (1 = one replica per GPU)."""

    def __init__(self, inventory: Sequence[str], *, sharing: int = 1) -> None:
        self.inventory = tuple(dict.fromkeys(inventory))
        self.sharing = max(1, sharing)
        self._held: dict[str, tuple[str, ...]] = {}

    def free_slots(self) -> dict[str, int]:
        used = dict.fromkeys(self.inventory, 0)
        for gpus in self._held.values():
            for gpu in gpus:
                if gpu in used:
                    used[gpu] += 1
        return {gpu: self.sharing - n for gpu, n in used.items()}

    def allocate(self, holder: str, count: int) -> tuple[str, ...] | None:
        """Reserve ``count`` GPUs for ``holder``; None (nothing reserved) when too few are free."""
        picked = pick_gpus(self.free_slots(), count)
        if picked is not None and picked:
            self._held[holder] = picked
        return picked

    def reserve(self, holder: str, gpus: Sequence[str]) -> None:
        """Record GPUs an adopted replica already holds (even beyond the sharing limit)."""
        if gpus:
            self._held[holder] = tuple(gpus)

    def release(self, holder: str) -> None:
        self._held.pop(holder, None)

    def held(self, holder: str) -> tuple[str, ...]:
        return self._held.get(holder, ())

    @classmethod
    def from_config(cls, config: ReplicasConfig) -> GpuAllocator:
        inventory = list(config.gpus) if config.gpus is not None else discover_gpus()
        return cls(inventory, sharing=config.gpu_sharing)


def parse_nvidia_smi(output: str) -> list[str]:
    """``uuid, index`` lines -> GPU UUIDs in index order."""
    rows: list[tuple[int, str]] = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].isdigit() and parts[0]:
            rows.append((int(parts[1]), parts[0]))
    return [uuid for _, uuid in sorted(rows)]


def discover_gpus() -> list[str]:
    """GPU UUIDs from ``nvidia-smi``; no nvidia-smi or a failure -> no GPUs."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=uuid,index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed, no GPUs: %s", exc)
        return []
    return parse_nvidia_smi(out)
